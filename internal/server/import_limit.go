package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/clinicemr/usermanager/internal/staffimport"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// MaxImportUploadBytes bounds the multipart request of importUsers: a
// staff list (staffimport.MaxFileBytes, 10 MB) and the operation around it.
// Every other multipart request keeps MaxUploadBytes.
const MaxImportUploadBytes = staffimport.MaxFileBytes + 64<<10

// uploadLimit is the body limit of a multipart request: MaxImportUploadBytes
// when a signed-in viewer sends an importUsers mutation, MaxUploadBytes
// otherwise. The GraphQL multipart request specification puts the
// operations field first, so it is read (at most MaxBodyBytes) before any
// file; what was read is put back in front of the body. An anonymous
// request, or one whose operations cannot be read, keeps the small limit,
// so nobody but a signed-in manager can make the server spool 10 MB.
func uploadLimit(r *http.Request) int64 {
	if viewer.FromContext(r.Context()) == nil {
		return MaxUploadBytes
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return MaxUploadBytes
	}
	var seen bytes.Buffer
	head := io.TeeReader(io.LimitReader(r.Body, MaxBodyBytes), &seen)
	defer func() {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(seen.Bytes()), r.Body), r.Body}
	}()
	part, err := multipart.NewReader(head, params["boundary"]).NextPart()
	if err != nil || part.FormName() != "operations" {
		return MaxUploadBytes
	}
	var op struct {
		Query         string `json:"query"`
		OperationName string `json:"operationName"`
	}
	if json.NewDecoder(part).Decode(&op) != nil || !importsUsers(op.Query, op.OperationName) {
		return MaxUploadBytes
	}
	return MaxImportUploadBytes
}

// importsUsers reports whether the operation of query that runs is a
// mutation selecting importUsers.
func importsUsers(query, name string) bool {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return false
	}
	var chosen *ast.OperationDefinition
	for _, o := range doc.Operations {
		if name == "" && len(doc.Operations) == 1 || o.Name == name {
			chosen = o
		}
	}
	if chosen == nil || chosen.Operation != ast.Mutation {
		return false
	}
	for _, sel := range chosen.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && f.Name == "importUsers" {
			return true
		}
	}
	return false
}
