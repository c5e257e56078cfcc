package textinput

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	for _, c := range []struct {
		in                string
		single, multiLine bool // acceptable as single-line, as multi-line
	}{
		{"", true, true},
		{"Jordan Reyes", true, true},
		{"O'Neill-Åström 李", true, true},
		{"👩‍⚕️ zero\u200dwidth joiner", true, true},
		{"nul\x00byte", false, false},
		{"\x00", false, false},
		{"bell\a", false, false},
		{"escape\x1b[31m", false, false},
		{"del\x7f", false, false},
		{"c1\u0085next line", false, false},
		{"line\nbreak", false, true},
		{"crlf\r\nbreak", false, true},
		{"tab\there", false, true},
		{"line\u2028separator", false, true},
		{"bad utf-8 \xff", false, false},
		{strings.Repeat("long ", 20000), true, true},
	} {
		if got := Problem(c.in, false) == ""; got != c.single {
			t.Errorf("single-line %q: acceptable %v, want %v (%s)", c.in, got, c.single, Problem(c.in, false))
		}
		if got := Problem(c.in, true) == ""; got != c.multiLine {
			t.Errorf("multi-line %q: acceptable %v, want %v (%s)", c.in, got, c.multiLine, Problem(c.in, true))
		}
		if SingleLine(c.in) != c.single {
			t.Errorf("SingleLine(%q) = %v", c.in, !c.single)
		}
	}
}

func TestMultiLineFields(t *testing.T) {
	if !IsMultiLine("RequestLicenseAdjustmentInput", "explanation") || !IsMultiLine("RejectLicenseAdjustmentInput", "reason") {
		t.Error("the adjustment explanation and rejection reason are multi-line")
	}
	if IsMultiLine("CreateUserInput", "firstName") || IsMultiLine("", "explanation") {
		t.Error("names are single-line")
	}
}
