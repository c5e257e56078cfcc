package apitest_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

func imgPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		m.Set(x, x%h, color.RGBA{R: 200, A: 255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imgUpload sends a mutation with one file through the GraphQL multipart
// request specification, as a browser or a script would.
func imgUpload(t *testing.T, env *apitest.Env, c *apitest.Client, mutation, userID string, file []byte) (map[string]any, []any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{
		"query":     mutation,
		"variables": map[string]any{"in": map[string]any{"userId": userID, "file": nil}},
	})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.in.file"]}`)
	fw, _ := mw.CreateFormFile("0", "picture.png")
	_, _ = fw.Write(file)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data   map[string]map[string]any
		Errors []any
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d: %s", res.StatusCode, raw)
	}
	for _, v := range out.Data {
		return v, out.Errors
	}
	return nil, out.Errors
}

const imgUploadPicture = `mutation($in: UploadImageInput!) { uploadProfilePicture(input: $in) {
	user { id profilePictureUrl } userErrors { field code message } } }`
const imgUploadSignature = `mutation($in: UploadImageInput!) { uploadSignature(input: $in) {
	user { id signatureUrl } userErrors { field code message } } }`

func imgUserID(t *testing.T, c *apitest.Client, username string) string {
	t.Helper()
	var out struct {
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	c.MustDo(`query($u: String!) { users(filter: {username: $u}) { edges { node { id } } } }`, map[string]any{"u": username}, &out)
	if len(out.Users.Edges) != 1 {
		t.Fatalf("user %s: %+v", username, out)
	}
	return out.Users.Edges[0].Node.ID
}

func imgErrorCodes(payload map[string]any) []string {
	var codes []string
	list, _ := payload["userErrors"].([]any)
	for _, e := range list {
		codes = append(codes, e.(map[string]any)["code"].(string))
	}
	return codes
}

// R18, R19: pictures and signatures through the multipart spec, served by
// signed URL to the organization's users only.
func TestImagesUploadServeRemove(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		jordan := imgUserID(t, admin, "pt.jordan")

		p, errs := imgUpload(t, env, admin, imgUploadPicture, jordan, imgPNG(t, 64, 64))
		if len(errs) > 0 || len(imgErrorCodes(p)) > 0 {
			t.Fatalf("upload: %v %v", errs, p)
		}
		url, _ := p["user"].(map[string]any)["profilePictureUrl"].(string)
		// Absolute, so an SPA on another origin or a mobile app can load it.
		if !strings.HasPrefix(url, env.Server.URL+"/media/pictures/") {
			t.Fatalf("profilePictureUrl = %q", url)
		}
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got, imgPNG(t, 64, 64)) {
			t.Fatalf("GET picture: %d %s (%d bytes)", res.StatusCode, res.Header.Get("Content-Type"), len(got))
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "private") || !strings.Contains(cc, "max-age") {
			t.Fatalf("Cache-Control = %q", cc)
		}
		// A tampered URL is refused.
		if res, _ := http.Get(strings.Replace(url, "sig=", "sig=x", 1)); res.StatusCode != http.StatusForbidden {
			t.Fatalf("tampered URL: %d", res.StatusCode)
		}

		// A non-square picture is refused and the profile keeps its picture.
		p, _ = imgUpload(t, env, admin, imgUploadPicture, jordan, imgPNG(t, 64, 40))
		if codes := imgErrorCodes(p); len(codes) != 1 || codes[0] != "PICTURE_NOT_SQUARE" || p["user"] != nil {
			t.Fatalf("non-square: %v", p)
		}
		// Not an image at all.
		p, _ = imgUpload(t, env, admin, imgUploadPicture, jordan, []byte("hello, not a picture"))
		if codes := imgErrorCodes(p); len(codes) != 1 || codes[0] != "UNSUPPORTED_IMAGE" {
			t.Fatalf("text file: %v", p)
		}
		// 1 MB or more.
		big := append(imgPNG(t, 8, 8), make([]byte, 1<<20)...)
		p, _ = imgUpload(t, env, admin, imgUploadPicture, jordan, big)
		if codes := imgErrorCodes(p); len(codes) != 1 || codes[0] != "PICTURE_TOO_LARGE" {
			t.Fatalf("over-size: %v", p)
		}
		var viewerOut struct {
			Node struct{ ProfilePictureURL *string }
		}
		admin.MustDo(`query($id: ID!) { node(id: $id) { ... on User { profilePictureUrl } } }`, map[string]any{"id": jordan}, &viewerOut)
		if viewerOut.Node.ProfilePictureURL == nil {
			t.Fatal("a refused upload removed the picture")
		}

		// Signatures: Therapist and Assistant classes only.
		p, _ = imgUpload(t, env, admin, imgUploadSignature, jordan, imgPNG(t, 300, 100))
		if len(imgErrorCodes(p)) > 0 || p["user"].(map[string]any)["signatureUrl"] == nil {
			t.Fatalf("signature for a PT: %v", p)
		}
		desk := imgUserID(t, admin, "front.desk")
		p, _ = imgUpload(t, env, admin, imgUploadSignature, desk, imgPNG(t, 300, 100))
		if codes := imgErrorCodes(p); len(codes) != 1 || codes[0] != "SIGNATURE_NOT_ALLOWED" {
			t.Fatalf("signature for a Clerical: %v", p)
		}

		// Another organization can neither change nor see it.
		harbor := env.LoginDemo("harbor.admin")
		if _, errs := imgUpload(t, env, harbor, imgUploadPicture, jordan, imgPNG(t, 16, 16)); len(errs) == 0 {
			t.Fatal("Harbor's admin changed a Sunrise user's picture")
		}
		r := harbor.Do(`query($id: ID!) { node(id: $id) { ... on User { profilePictureUrl } } }`, map[string]any{"id": jordan})
		if strings.Contains(string(r.Body), "/media/") {
			t.Fatalf("Harbor's admin got the picture URL: %s", r.Body)
		}

		// Removal.
		var removed struct {
			RemoveProfilePicture struct {
				User struct{ ProfilePictureURL *string }
			}
		}
		admin.MustDo(`mutation($id: ID!) { removeProfilePicture(input: {userId: $id}) { user { profilePictureUrl } } }`, map[string]any{"id": jordan}, &removed)
		if removed.RemoveProfilePicture.User.ProfilePictureURL != nil {
			t.Fatal("picture still set after removal")
		}
		if res, _ := http.Get(url); res.StatusCode != http.StatusNotFound {
			t.Fatalf("removed picture still served: %d", res.StatusCode)
		}
		// Removing it again changes nothing and answers the user.
		removed.RemoveProfilePicture.User.ProfilePictureURL = new(string)
		admin.MustDo(`mutation($id: ID!) { removeProfilePicture(input: {userId: $id}) { user { profilePictureUrl } } }`, map[string]any{"id": jordan}, &removed)
		if removed.RemoveProfilePicture.User.ProfilePictureURL != nil {
			t.Fatal("removing a removed picture answered a picture")
		}
	})
}
