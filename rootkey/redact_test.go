package rootkey

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// leakForms lists the ways a secret could appear in output: as text, hex,
// base64, or fmt's decimal rendering of its bytes.
func leakForms(secrets ...string) []string {
	var forms []string
	for _, s := range secrets {
		b := []byte(s)
		forms = append(forms, s, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			base64.StdEncoding.EncodeToString(b), fmt.Sprint(b)[1:20])
	}
	return forms
}

func assertNoLeak(t *testing.T, out string, forms []string) {
	t.Helper()
	for _, f := range forms {
		if strings.Contains(out, f) {
			t.Fatalf("output leaks a secret: %q", out)
		}
	}
}

type holder struct {
	Name   string
	Key    Key
	Pepper Pepper
}

type hiddenHolder struct {
	key    Key
	pepper Pepper
}

type pointerHolder struct {
	Key *Key
}

func TestFormatRedacts(t *testing.T) {
	k := mustGenerate(t)
	text := k.Reveal()
	pepperBytes := []byte(strings.Repeat("pepper-material-", 3))
	p, err := NewPepper(pepperBytes)
	if err != nil {
		t.Fatal(err)
	}
	forms := leakForms(text, text[:checksumPos], text[secretPos:checksumPos], string(pepperBytes))

	type format struct {
		name         string
		out          string
		wantRedacted bool
	}
	var tests []format
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-60s", "%p", "%t", "%08.3f"} {
		tests = append(tests,
			// fmt prints a bad %p without calling Format; the pointer
			// field inside Key keeps that output free of the secret.
			format{"key " + verb, fmt.Sprintf(verb, k), verb != "%p"},
			format{"pointer to key " + verb, fmt.Sprintf(verb, &k), verb != "%p"},
			format{"pepper " + verb, fmt.Sprintf(verb, p), verb != "%p"},
		)
	}
	tests = append(tests,
		format{"Sprint", fmt.Sprint(k, p), true},
		format{"Sprintln", fmt.Sprintln(k, p), true},
		format{"String", k.String() + p.String(), true},
		format{"GoString", k.GoString() + p.GoString(), true},
		format{"exported fields %+v", fmt.Sprintf("%+v", holder{Name: "n", Key: k, Pepper: p}), true},
		format{"exported fields %#v", fmt.Sprintf("%#v", holder{Name: "n", Key: k, Pepper: p}), true},
		format{"pointer to struct %+v", fmt.Sprintf("%+v", &holder{Key: k, Pepper: p}), true},
		format{"pointer field %+v", fmt.Sprintf("%+v", pointerHolder{Key: &k}), false},
		format{"unexported fields %+v", fmt.Sprintf("%+v", hiddenHolder{key: k, pepper: p}), false},
		format{"unexported fields %#v", fmt.Sprintf("%#v", hiddenHolder{key: k, pepper: p}), false},
		format{"slice", fmt.Sprintf("%v", []Key{k, k}), true},
		format{"map", fmt.Sprintf("%v", map[string]Key{"a": k}), true},
		format{"any slice", fmt.Sprintf("%x", []any{k, p}), true},
		format{"wrapped in error", fmt.Errorf("exchange failed for %v: %w", k, ErrMalformed).Error(), true},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertNoLeak(t, tt.out, forms)
			if tt.wantRedacted && !strings.Contains(tt.out, redacted) {
				t.Fatalf("output %q does not show %s", tt.out, redacted)
			}
		})
	}
}

func TestSlogRedacts(t *testing.T) {
	k := mustGenerate(t)
	text := k.Reveal()
	pepperBytes := []byte(strings.Repeat("slog-pepper-bytes-", 2))
	p, err := NewPepper(pepperBytes)
	if err != nil {
		t.Fatal(err)
	}
	forms := leakForms(text, text[:checksumPos], text[secretPos:checksumPos], string(pepperBytes))

	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	}
	records := []struct {
		name         string
		args         []any
		wantRedacted bool
	}{
		{"key attr", []any{slog.Any("key", k)}, true},
		{"key as loose arg", []any{"key", k}, true},
		{"pointer to key", []any{"key", &k}, true},
		{"pepper attr", []any{slog.Any("pepper", p)}, true},
		{"group", []any{slog.Group("auth", "key", k, "pepper", p)}, true},
		{"struct with exported fields", []any{"holder", holder{Key: k, Pepper: p}}, false},
		{"struct with unexported fields", []any{"holder", hiddenHolder{key: k, pepper: p}}, false},
		{"formatted into the message", []any{"msg", fmt.Sprint(k)}, true},
	}
	for _, h := range handlers {
		for _, r := range records {
			t.Run(h.name+"/"+r.name, func(t *testing.T) {
				var buf bytes.Buffer
				slog.New(h.new(&buf)).Info("exchange", r.args...)
				out := buf.String()
				assertNoLeak(t, out, forms)
				if r.wantRedacted && !strings.Contains(out, redacted) {
					t.Fatalf("output %q does not show %s", out, redacted)
				}
			})
		}
	}
}
