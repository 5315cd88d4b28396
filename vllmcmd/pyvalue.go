package vllmcmd

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pyKind is the Python type PyYAML's safe loader builds for a YAML node.
type pyKind uint8

const (
	pyStr pyKind = iota
	pyInt
	pyFloat
	pyBool
	pyNone
	pyList
	pyDict
)

// pyValue is a value as vLLM holds it after yaml.safe_load.
type pyValue struct {
	kind pyKind
	str  string  // pyStr: the text; pyInt: decimal digits with sign
	num  float64 // pyFloat
	b    bool    // pyBool
	list []*pyValue
	dict []pyItem // pyDict, in document order
}

type pyItem struct {
	key string
	val *pyValue
}

// PyYAML's implicit resolvers (yaml/resolver.py), which vLLM's
// yaml.safe_load applies to plain scalars: YAML 1.1, so yes/on are true,
// 0o17 is a string but 017 is octal, and 1e3 is a string.
var (
	pyBoolRE  = lazyRegexp(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	pyFloatRE = lazyRegexp(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?` +
		`|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?` +
		`|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*` +
		`|[-+]?\.(?:inf|Inf|INF)` +
		`|\.(?:nan|NaN|NAN))$`)
	pyIntRE = lazyRegexp(`^(?:[-+]?0b[0-1_]+` +
		`|[-+]?0[0-7_]+` +
		`|[-+]?(?:0|[1-9][0-9_]*)` +
		`|[-+]?0x[0-9a-fA-F_]+` +
		`|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	pyNullRE      = lazyRegexp(`^(?:~|null|Null|NULL|)$`)
	pyTimestampRE = lazyRegexp(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]` +
		`|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?` +
		`(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9]` +
		`(?:\.[0-9]*)?` +
		`(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

// errUnsupportedScalar is a scalar PyYAML reads as a type vLLM cannot use
// or modelgate does not model (timestamps, merge keys, "=").
type errUnsupportedScalar struct{ what string }

func (e errUnsupportedScalar) Error() string { return e.what }

// resolvePlain builds the value PyYAML builds for a plain (unquoted,
// untagged) scalar. The resolvers are tried in PyYAML's registration
// order: bool, float, int, merge, null, timestamp, value.
func resolvePlain(s string) (*pyValue, error) {
	switch {
	case pyBoolRE().MatchString(s):
		return &pyValue{kind: pyBool, b: s[0] == 'y' || s[0] == 'Y' || s[0] == 't' || s[0] == 'T' || s == "on" || s == "On" || s == "ON"}, nil
	case pyFloatRE().MatchString(s):
		f, err := pyFloatValue(s)
		if err != nil {
			return nil, err
		}
		return &pyValue{kind: pyFloat, num: f}, nil
	case pyIntRE().MatchString(s):
		n, err := pyIntText(s)
		if err != nil {
			return nil, err
		}
		return &pyValue{kind: pyInt, str: n}, nil
	case s == "<<":
		return nil, errUnsupportedScalar{"a YAML merge key (<<)"}
	case pyNullRE().MatchString(s):
		return &pyValue{kind: pyNone}, nil
	case pyTimestampRE().MatchString(s):
		return nil, errUnsupportedScalar{fmt.Sprintf("%q, which YAML reads as a date", s)}
	case s == "=":
		return nil, errUnsupportedScalar{`"=", which YAML reads as a value key`}
	}
	return &pyValue{kind: pyStr, str: s}, nil
}

// pyMaxDigits is CPython's limit on converting between int and decimal
// text (sys.int_info.default_max_str_digits): str() of a longer int raises.
const pyMaxDigits = 4300

// maxSexagesimalParts bounds base-60 numbers (1:30:00): each part
// multiplies a growing big number, and real ones have three.
const maxSexagesimalParts = 16

// pyIntText converts a scalar matched by pyIntRE as construct_yaml_int does,
// returning the decimal text of the result.
func pyIntText(s string) (string, error) {
	v := strings.ReplaceAll(s, "_", "")
	neg := false
	if v[0] == '-' || v[0] == '+' {
		neg = v[0] == '-'
		v = v[1:]
	}
	n := new(big.Int)
	ok := true
	switch {
	case v == "0":
	case strings.HasPrefix(v, "0b"):
		_, ok = n.SetString(v[2:], 2)
	case strings.HasPrefix(v, "0x"):
		_, ok = n.SetString(v[2:], 16)
	case v[0] == '0':
		_, ok = n.SetString(v, 8)
	case strings.Contains(v, ":"):
		base := big.NewInt(1)
		parts := strings.Split(v, ":")
		if len(parts) > maxSexagesimalParts {
			ok = false
			break
		}
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseInt(parts[i], 10, 64)
			if err != nil {
				ok = false
				break
			}
			n.Add(n, new(big.Int).Mul(big.NewInt(d), base))
			base.Mul(base, big.NewInt(60))
		}
	default:
		if len(v) > pyMaxDigits {
			ok = false
		} else {
			_, ok = n.SetString(v, 10)
		}
	}
	if !ok || n.BitLen() > pyMaxDigits*10/3+10 { // surely more than pyMaxDigits digits
		return "", errUnsupportedScalar{fmt.Sprintf("%q, which YAML reads as a number Python cannot convert", abbreviate(s))}
	}
	if neg {
		n.Neg(n)
	}
	text := n.String()
	if len(strings.TrimPrefix(text, "-")) > pyMaxDigits {
		return "", errUnsupportedScalar{fmt.Sprintf("an integer of more than %d digits", pyMaxDigits)}
	}
	return text, nil
}

// pyFloatValue converts a scalar matched by pyFloatRE as construct_yaml_float
// does.
func pyFloatValue(s string) (float64, error) {
	v := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if v[0] == '-' || v[0] == '+' {
		if v[0] == '-' {
			sign = -1
		}
		v = v[1:]
	}
	switch {
	case v == ".inf":
		return sign * math.Inf(1), nil
	case v == ".nan":
		return math.NaN(), nil
	case strings.Contains(v, ":"):
		total, base := 0.0, 1.0
		parts := strings.Split(v, ":")
		for i := len(parts) - 1; i >= 0; i-- {
			d, err := strconv.ParseFloat(parts[i], 64)
			if err != nil {
				return 0, errUnsupportedScalar{fmt.Sprintf("%q, which YAML reads as a number Python cannot convert", s)}
			}
			total += d * base
			base *= 60
		}
		return sign * total, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !isRangeErr(err) {
		return 0, errUnsupportedScalar{fmt.Sprintf("%q, which YAML reads as a number Python cannot convert", s)}
	}
	return sign * f, nil // out of range: ±Inf, as Python's float()
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// pyReprFloat formats f as Python's repr(float) (and str(float)): the
// shortest digits that round-trip, in fixed notation when the decimal
// point falls within 16 digits and scientific notation otherwise.
func pyReprFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1 // digits before the decimal point
	if decpt <= -4 || decpt > 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		return fmt.Sprintf("%s%se%s%02d", sign, m, es, exp)
	}
	var b strings.Builder
	b.WriteString(sign)
	switch {
	case decpt <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -decpt))
		b.WriteString(digits)
	case decpt >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", decpt-len(digits)))
		b.WriteString(".0")
	default:
		b.WriteString(digits[:decpt])
		b.WriteString(".")
		b.WriteString(digits[decpt:])
	}
	return b.String()
}

// pyStrOf is Python's str() of a scalar, which vLLM's load_config_file
// applies to a key's value (and to each item of a list).
func pyStrOf(v *pyValue) string {
	switch v.kind {
	case pyStr, pyInt:
		return v.str
	case pyFloat:
		return pyReprFloat(v.num)
	case pyBool:
		if v.b {
			return "True"
		}
		return "False"
	default:
		return "None"
	}
}

// pyJSON is json.dumps(v) with Python's defaults: ", " and ": "
// separators, ASCII-only output, NaN and Infinity allowed.
func pyJSON(v *pyValue) string {
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v *pyValue) {
	switch v.kind {
	case pyStr:
		writePyJSONString(b, v.str)
	case pyInt:
		b.WriteString(v.str)
	case pyFloat:
		switch {
		case math.IsNaN(v.num):
			b.WriteString("NaN")
		case math.IsInf(v.num, 1):
			b.WriteString("Infinity")
		case math.IsInf(v.num, -1):
			b.WriteString("-Infinity")
		default:
			b.WriteString(pyReprFloat(v.num))
		}
	case pyBool:
		if v.b {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case pyNone:
		b.WriteString("null")
	case pyList:
		b.WriteByte('[')
		for i, e := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case pyDict:
		b.WriteByte('{')
		for i, it := range v.dict {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSONString(b, it.key)
			b.WriteString(": ")
			writePyJSON(b, it.val)
		}
		b.WriteByte('}')
	}
}

// writePyJSONString writes s as json.dumps does with ensure_ascii=True.
func writePyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				b.WriteRune(r)
			case r > 0xffff:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				fmt.Fprintf(b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
}

// pyPrintable reports whether PyYAML's reader accepts every character of
// s (yaml/reader.py NON_PRINTABLE), and refuses the line breaks YAML 1.1
// and 1.2 parsers disagree on (NEL, LS, PS, a lone CR).
func pyPrintable(s string) (bad rune, ok bool) {
	for i, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				return r, false
			}
		case r >= 0x20 && r <= 0x7e:
		case r == 0x85 || r == 0x2028 || r == 0x2029:
			return r, false
		case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000 && r <= utf8.MaxRune:
		default:
			return r, false
		}
	}
	return 0, true
}
