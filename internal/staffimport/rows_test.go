package staffimport

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, file string) ([]*row, error) {
	t.Helper()
	rd := newReader(strings.NewReader(file))
	if err := rd.header(); err != nil {
		return nil, err
	}
	var rows []*row
	for {
		r, err := rd.next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		rows = append(rows, r)
	}
}

const hdr = "username,email,first_name,last_name,user_type,home_clinic,permissions\n"

func TestHeader(t *testing.T) {
	for file, want := range map[string]string{
		"":                               "empty",
		"username,email\n":               "lacks the column(s) first_name",
		"username,username\n":            "appears twice",
		"username,nickname\n":            `unknown column "nickname"`,
		"\xff\xfeu\x00s\x00e\x00r\x00\n": "unknown column",
	} {
		_, err := readAll(t, file)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("header of %q: %v, want %q", file, err, want)
		}
	}
	// Excel's byte order mark, any case, any order, spaces.
	rows, err := readAll(t, "\uFEFFPermissions, Username ,email,first_name,last_name,user_type,home_clinic\nView Patients,jdoe,j@x.org,J,D,PT,Downtown\n")
	if err != nil || len(rows) != 1 || rows[0].cells["username"] != "jdoe" || rows[0].cells["permissions"] != "View Patients" {
		t.Fatalf("rows = %+v, %v", rows, err)
	}
}

func TestRowsNumberedAndChecked(t *testing.T) {
	file := hdr +
		"a,a@x.org,A,A,PT,D,P\n" + // 2
		"b,b@x.org\n" + // 3 ragged
		"c,c@x.org,=1+1,C,PT,D,P\n" + // 4 formula
		"d,d@x.org,'=1+1,D,PT,D,P\n" + // 5 apostrophe: text
		"e,e@x.org,\"multi\nline\",E,PT,D,P\n" + // 6 line break in a cell
		"f,f@x.org,F,F,PT,D,P\n" // 7
	rows, err := readAll(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d rows", len(rows))
	}
	want := []string{"", "MALFORMED_ROW", "FORMULA_NOT_ALLOWED", "", "INVALID_CHARACTER", ""}
	for i, r := range rows {
		if r.number != i+2 {
			t.Errorf("row %d numbered %d", i+2, r.number)
		}
		got := ""
		if len(r.errs) > 0 {
			got = string(r.errs[0].Code)
		}
		if got != want[i] {
			t.Errorf("row %d: %q, want %q", r.number, got, want[i])
		}
	}
	if rows[3].cells["first_name"] != "=1+1" {
		t.Errorf("an apostrophe-prefixed cell reads %q", rows[3].cells["first_name"])
	}
	if n, err := countRows(strings.NewReader(file)); err != nil || n != 6 {
		t.Errorf("countRows = %d, %v", n, err)
	}
}

// A quoted cell that never closes: one malformed row, not a crash, and the
// count agrees with what the job reads.
func TestUnclosedQuote(t *testing.T) {
	file := hdr + "a,a@x.org,A,A,PT,D,P\n" + "b,b@x.org,\"B,B,PT,D,P\n" + "c,c@x.org,C,C,PT,D,P\n"
	rows, err := readAll(t, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || len(rows[1].errs) == 0 || rows[1].errs[0].Code != CodeMalformedRow {
		t.Fatalf("rows = %d: %+v", len(rows), rows)
	}
	if n, _ := countRows(strings.NewReader(file)); n != len(rows) {
		t.Errorf("countRows = %d, read %d", n, len(rows))
	}
}

func FuzzRows(f *testing.F) {
	f.Add(hdr + "a,a@x.org,A,A,PT,D,P\n")
	f.Add(hdr + "\"\n\x00,=\xff\n")
	f.Fuzz(func(t *testing.T, file string) {
		rd := newReader(strings.NewReader(file))
		if rd.header() != nil {
			return
		}
		n := 0
		for {
			r, err := rd.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("next: %v", err)
			}
			n++
			if r.cells == nil && len(r.errs) == 0 {
				t.Fatalf("row %d has neither cells nor errors", r.number)
			}
		}
		if c, err := countRows(strings.NewReader(file)); err != nil || c != n {
			t.Fatalf("countRows = %d, %v; read %d", c, err, n)
		}
	})
}
