package hfcache

import (
	"fmt"
	"testing"

	"github.com/modelgate/modelgate/internal/hftest"
)

// benchSnapshot is a repository with n files, a fifth of them in folders,
// as a large sharded model with its tokenizer files looks.
func benchSnapshot(b *testing.B, n int) (*hftest.Cache, []string) {
	files := map[string]string{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
		if i%5 == 0 {
			name = fmt.Sprintf("sub%d/file-%d.json", i%3, i)
		}
		files[name] = name
		names = append(names, name)
	}
	c := hftest.New(b)
	c.Add("org/model", "main", files)
	return c, names
}

func BenchmarkResolve(b *testing.B) {
	c, _ := benchSnapshot(b, 10)
	root := Root{Dir: c.Root, Var: EnvHubCache}
	for b.Loop() {
		if _, err := Resolve(root, "org/model", ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckSnapshot(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c, names := benchSnapshot(b, n)
			res, err := Resolve(Root{Dir: c.Root, Var: EnvHubCache}, "org/model", "")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := CheckSnapshot(res); err != nil {
					b.Fatal(err)
				}
				if err := CheckComplete(res, names); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
