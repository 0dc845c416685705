package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// -update rewrites the golden files: go test ./chain/config -run Convert -update
func init() {
	// Registered here unless another test file of the package has it, so
	// that the two cannot collide.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// decodeFile decodes TOML text into a File, refusing keys File lacks.
func decodeFile(t testing.TB, text []byte) *File {
	t.Helper()
	var f File
	md, err := toml.Decode(string(text), &f)
	if err != nil {
		t.Fatalf("decoding:\n%s\n%v", text, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("keys File does not have: %v", un)
	}
	return &f
}

// TestConvertGolden converts every good testdata/proxychains file and
// compares the text with its golden .toml, then checks that the text
// decodes back to the same File and that Parse takes it.
func TestConvertGolden(t *testing.T) {
	for _, c := range pcCases {
		if c.err != "" {
			continue
		}
		t.Run(c.file, func(t *testing.T) {
			f, _, err := ParseProxychainsConf(c.file, readPC(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Convert(f)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(pcTestdata, strings.TrimSuffix(c.file, ".conf")+".toml")
			if updateGolden() {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run the test with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Convert differs from %s (run with -update to accept):\n%s", golden, got)
			}
			if back := decodeFile(t, got); !reflect.DeepEqual(back, f) {
				t.Errorf("round trip:\n got %s\nwant %s", pcDump(back), pcDump(f))
			}
			if LooksLikeProxychainsConf(got) {
				t.Error("the converted text is taken for a proxychains.conf")
			}
			cfg, err := Parse("converted.toml", got)
			if err != nil {
				t.Fatalf("Parse of the converted text: %v", err)
			}
			if cfg.Imported || cfg.DefaultProfile != ProxychainsProfile {
				t.Errorf("Parse: Imported %v, default profile %q", cfg.Imported, cfg.DefaultProfile)
			}
		})
	}
}

// TestConvertGoldenCovered finds golden files left over from removed cases.
func TestConvertGoldenCovered(t *testing.T) {
	goldens, _ := filepath.Glob(filepath.Join(pcTestdata, "*.toml"))
	good := map[string]bool{}
	for _, c := range pcCases {
		if c.err == "" {
			good[strings.TrimSuffix(c.file, ".conf")+".toml"] = true
		}
	}
	for _, g := range goldens {
		if !good[filepath.Base(g)] {
			t.Errorf("%s belongs to no good case of pcCases", g)
		}
	}
}

// TestConvertRoundTripEveryField fills every field of File, at every depth,
// with awkward values and checks that Convert keeps them all: a field added
// to file.go that Convert does not write fails here.
func TestConvertRoundTripEveryField(t *testing.T) {
	for _, variant := range []struct {
		name string
		seed int
	}{{"values", 1}, {"empty", 0}} {
		t.Run(variant.name, func(t *testing.T) {
			var f File
			cvFill(reflect.ValueOf(&f).Elem(), variant.seed, "")
			text, err := Convert(&f)
			if err != nil {
				t.Fatal(err)
			}
			back := decodeFile(t, text)
			if !reflect.DeepEqual(back, &f) {
				t.Errorf("round trip of\n%s\n got %s\nwant %s", text, pcDump(back), pcDump(&f))
			}
			again, err := Convert(back)
			if err != nil || !bytes.Equal(again, text) {
				t.Errorf("converting twice differs (%v):\n%s\n%s", err, text, again)
			}
		})
	}
}

// cvFill sets every field under v: with seed 0, empty but non-nil maps and
// slices; otherwise values with characters TOML must escape.
func cvFill(v reflect.Value, seed int, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s \"q\" \\ \t\n\x01 é #%d", path, seed))
	case reflect.Int:
		v.SetInt(int64(seed + 1))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		cvFill(v.Elem(), seed, path)
	case reflect.Struct:
		for i := range v.NumField() {
			cvFill(v.Field(i), seed, path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		n := 0
		if seed > 0 {
			n = 2
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			cvFill(s.Index(i), seed+i, fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		if seed > 0 {
			for _, k := range []string{"p10", "p2", "a b", "", "ü"} {
				e := reflect.New(v.Type().Elem()).Elem()
				cvFill(e, seed, path+"."+k)
				m.SetMapIndex(reflect.ValueOf(k), e)
			}
		}
		v.Set(m)
	default:
		panic("cvFill: unhandled kind " + v.Kind().String() + " at " + path)
	}
}

func TestConvertErrors(t *testing.T) {
	if _, err := Convert(nil); err == nil {
		t.Error("Convert(nil) succeeded")
	}
	if _, err := Convert(&File{Profiles: map[string]*ProfileFile{"x": nil}}); err == nil {
		t.Error("a nil profile converted")
	}
	if _, err := Convert(&File{Proxies: map[string]string{"p1": "socks5://\xff"}}); err == nil {
		t.Error("text that is not UTF-8 converted")
	}
}

func TestConvertDefaultProfileFirst(t *testing.T) {
	f := &File{DefaultProfile: "zz", Profiles: map[string]*ProfileFile{"zz": {Mode: "strict"}, "aa": {Mode: "dynamic"}, "p10": {}, "p9": {}}}
	text, err := Convert(f)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for line := range strings.SplitSeq(string(text), "\n") {
		if name, ok := strings.CutPrefix(line, "[profiles."); ok {
			order = append(order, strings.TrimSuffix(name, "]"))
		}
	}
	if got, want := strings.Join(order, " "), "zz aa p9 p10"; got != want {
		t.Errorf("profile order %q, want %q", got, want)
	}
}

func TestCvNaturalCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int // sign
	}{
		{"p2", "p10", -1}, {"p10", "p2", 1}, {"p1", "p1", 0}, {"p01", "p1", -1},
		{"a", "b", -1}, {"", "a", -1}, {"p1a", "p1b", -1}, {"x9y", "x10y", -1},
	} {
		got := cvNaturalCompare(c.a, c.b)
		if (got < 0) != (c.want < 0) || (got > 0) != (c.want > 0) {
			t.Errorf("cvNaturalCompare(%q, %q) = %d, want sign %d", c.a, c.b, got, c.want)
		}
	}
}
