package policy

import (
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the parsed scope
		wantErr string // part of the error; "" for none
	}{
		{in: "", want: ""},
		{in: "   ", want: ""},
		{in: "region=eu", want: "region=eu"},
		{in: "region=uk,eu", want: "region=eu,uk"},
		{in: "region=eu,eu", want: "region=eu"},
		{in: "plan=enterprise region=eu,uk", want: "plan=enterprise region=eu,uk"},
		{in: " region=eu\tplan=team ", want: "plan=team region=eu"},
		{in: "region=us-east-1", want: "region=us-east-1"},
		{in: "region", wantErr: `"region" is not attribute=value`},
		{in: "region=", wantErr: `value "" must be`},
		{in: "region=eu,", wantErr: `value "" must be`},
		{in: "region=EU", wantErr: `value "EU" must be`},
		{in: "region=e u", wantErr: `"u" is not attribute=value`},
		{in: "region=eu;drop", wantErr: `value "eu;drop"`},
		{in: "region=" + strings.Repeat("a", 33), wantErr: "1 to 32"},
		{in: "country=de", wantErr: `unknown attribute "country"`},
		{in: "Region=eu", wantErr: `unknown attribute "Region"`},
		{in: "region=eu region=us", wantErr: "region is named twice"},
		{in: "=eu", wantErr: `unknown attribute ""`},
		{in: "region==eu", wantErr: `value "=eu"`},
	}
	for _, tt := range tests {
		s, err := ParseScope(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseScope(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseScope(%q): %v", tt.in, err)
			continue
		}
		if got := s.String(); got != tt.want {
			t.Errorf("ParseScope(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		if s.Unrestricted() != (tt.want == "") {
			t.Errorf("ParseScope(%q).Unrestricted() = %v", tt.in, s.Unrestricted())
		}
	}
}

func TestScopeAdmits(t *testing.T) {
	eu := map[string]string{"region": "eu", "plan": "team"}
	us := map[string]string{"region": "us", "plan": "enterprise"}
	none := map[string]string{"region": "", "plan": "team"}
	tests := []struct {
		scope string
		attrs map[string]string
		want  bool
	}{
		{"", eu, true},
		{"", none, true},
		{"region=eu", eu, true},
		{"region=eu", us, false},
		{"region=eu", none, false}, // fail closed: no region matches no condition
		{"region=eu", map[string]string{}, false},
		{"region=eu,us", us, true},
		{"region=eu,us plan=team", us, false},
		{"region=eu,us plan=team", eu, true},
		{"plan=enterprise", us, true},
		{"plan=enterprise", none, false},
	}
	for _, tt := range tests {
		s, err := ParseScope(tt.scope)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Admits(tt.attrs); got != tt.want {
			t.Errorf("%q.Admits(%v) = %v, want %v", tt.scope, tt.attrs, got, tt.want)
		}
	}
}

func TestScopeAnd(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"", "", ""},
		{"region=eu", "", "region=eu"},
		{"", "plan=team", "plan=team"},
		{"region=eu,uk", "region=uk,us plan=team", "plan=team region=uk"},
		{"region=eu", "region=us", "region="},
	}
	for _, tt := range tests {
		a, _ := ParseScope(tt.a)
		b, _ := ParseScope(tt.b)
		got := a.And(b)
		if got.String() != tt.want {
			t.Errorf("%q AND %q = %q, want %q", tt.a, tt.b, got, tt.want)
		}
		if tt.want == "region=" && got.Admits(map[string]string{"region": "eu"}) {
			t.Errorf("%q AND %q admits eu", tt.a, tt.b)
		}
	}
}

// FuzzParseScope checks that whatever ParseScope accepts prints back to
// text it reads as the same scope, and admits only what it names.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "region=eu", "region=eu,uk plan=enterprise", "plan=a-1,b region=x", "region", "x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseScope(text)
		if err != nil {
			return
		}
		again, err := ParseScope(s.String())
		if err != nil {
			t.Fatalf("ParseScope(%q) printed %q, which does not parse: %v", text, s, err)
		}
		if again.String() != s.String() {
			t.Fatalf("round trip of %q: %q then %q", text, s, again)
		}
		if !s.Unrestricted() && s.Admits(map[string]string{}) {
			t.Fatalf("%q admits a workspace without attributes", text)
		}
	})
}
