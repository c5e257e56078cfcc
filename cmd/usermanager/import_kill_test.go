package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A staff-list import killed (kill -9) halfway resumes after a restart and
// ends with exactly the good rows created, each once, and only the bad rows'
// errors (issue #13 point 3).
func TestKilledImportResumesWithoutCreatingTwice(t *testing.T) {
	t.Parallel()
	durDatabases(t, durKilledImportResumes)
}

func durKilledImportResumes(t *testing.T, d durDB) {
	// Short job timeout: chunks of 1s; a killed chunk is rescued after 4s.
	env := append(append([]string(nil), d.env...), "JOB_TIMEOUT=2s", "JOB_RESCUE_AFTER=4s",
		"JOB_RETRY_BASE=200ms", "JOB_POLL_INTERVAL=200ms")
	p := start(t, env...)
	password := d.demoPassword(t)
	token := durLogin(t, p, durAdmin, password)

	const good, bad = 3000, 30
	var file strings.Builder
	file.WriteString("username,email,first_name,last_name,user_type,status,home_clinic,clinics,permissions\n")
	for i := range good + bad {
		email := fmt.Sprintf("kill.%05d@example.org", i)
		if i%((good+bad)/bad) == 0 && i/((good+bad)/bad) < bad {
			email = "not-an-email"
		}
		fmt.Fprintf(&file, "kill.%05d,%s,Kill,K%05d,CLERICAL,INACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients\n", i, email, i)
	}
	id := killUpload(t, p, token, []byte(file.String()))
	durEventually(t, "the import to be under way", 60*time.Second, func() bool {
		return killState(t, p, token, id).RowsDone >= 500
	})
	before := killState(t, p, token, id)
	durKill(t, p)
	if before.Status == "COMPLETED" {
		t.Fatalf("the import completed before the kill: %+v", before)
	}

	p = start(t, env...)
	token = durLogin(t, p, durAdmin, password)
	var st killImport
	durEventually(t, "the import to complete after the restart", 180*time.Second, func() bool {
		st = killState(t, p, token, id)
		return st.Status == "COMPLETED" || st.Status == "FAILED"
	})
	t.Logf("killed at row %d of %d; after the restart: %+v", before.RowsDone, good+bad, st)
	if st.Status != "COMPLETED" || st.RowsDone != good+bad || st.Created != good || st.Failed != bad ||
		st.RowErrors.TotalCount != bad {
		t.Fatalf("import after the restart = %+v, want %d created and %d failed", st, good, bad)
	}
	for _, e := range st.RowErrors.Edges {
		if e.Node.Code != "INVALID_EMAIL" {
			t.Errorf("row %d: %s (a good row reported as failed)", e.Node.Row, e.Node.Code)
		}
	}
	// Counted page by page: the search's totalCount stops at 1,000.
	named, after := 0, (*string)(nil)
	for {
		var page struct {
			Users struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node struct{ Username string } }
			}
		}
		durGraphQL(t, p, token, `query($after: Cursor) { users(first: 100, after: $after, filter: {username: "kill."}) {
		  pageInfo { hasNextPage endCursor } edges { node { username } } } }`, map[string]any{"after": after}, &page)
		named += len(page.Users.Edges)
		if !page.Users.PageInfo.HasNextPage {
			break
		}
		after = &page.Users.PageInfo.EndCursor
	}
	if named != good {
		t.Fatalf("%d users named kill.*, want %d", named, good)
	}
	p.stop(t)
}

type killImport struct {
	Status                               string
	RowsTotal, RowsDone, Created, Failed int
	RowErrors                            struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				Row  int
				Code string
			}
		}
	}
}

func killState(t *testing.T, p *process, token, id string) killImport {
	t.Helper()
	var out struct{ Node killImport }
	durGraphQL(t, p, token, `query($id: ID!) { node(id: $id) { ... on UserImport {
	  status rowsTotal rowsDone created failed rowErrors(first: 100) { totalCount edges { node { row code } } } } } }`,
		map[string]any{"id": id}, &out)
	return out.Node
}

// killUpload sends importUsers with file (multipart) and returns the ID.
func killUpload(t *testing.T, p *process, token string, file []byte) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{
		"query":     `mutation($in: ImportUsersInput!) { importUsers(input: $in) { userImport { id } userErrors { code message } } }`,
		"variables": map[string]any{"in": map[string]any{"file": nil}},
	})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.in.file"]}`)
	fw, _ := mw.CreateFormFile("0", "staff.csv")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Apollo-Require-Preflight", "true")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		Data struct {
			ImportUsers struct {
				UserImport *struct{ ID string }
			}
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.ImportUsers.UserImport == nil {
		t.Fatalf("importUsers: status %d: %s", res.StatusCode, raw)
	}
	return out.Data.ImportUsers.UserImport.ID
}
