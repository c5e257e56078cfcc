// Package media validates, stores and serves the images of a user profile:
// the profile picture (SPEC R18) and the signature (R19).
//
// # Validation: header first
//
// ValidatePicture and ValidateSignature read at most MaxBytes (1 MB) of the
// upload, whatever size the client declared, and refuse a file of 1 MB or
// more with PICTURE_TOO_LARGE. The format is sniffed from the magic bytes,
// never from the file name or the client's content type. Then only the
// image header is parsed (image.DecodeConfig of the format's decoder) to
// learn the dimensions, before anything the size of the picture is
// allocated: a compressed image is tiny on disk but width×height×4 bytes in
// memory, so a 100-byte PNG claiming 100000×100000 pixels would otherwise
// ask for 40 GB (a decompression bomb). Dimensions over MaxDimension per
// side or MaxPixels in all are refused from the header alone. Only then is
// the image fully decoded, so that a truncated or corrupt file is refused
// at upload instead of showing broken later. Decoder panics are recovered:
// no input can crash the server. All errors are apperr.UserErrors with
// field "file" and the codes PICTURE_TOO_LARGE, PICTURE_NOT_SQUARE and
// UNSUPPORTED_IMAGE; every rule that can be checked is reported at once.
//
// # Storage
//
// Store keeps the validated bytes in a gocloud.dev/blob bucket: a directory
// (file://, the default, under DATA_DIR), S3-compatible object storage
// (s3://, when several instances share the files) or memory (mem://, tests).
// Keys come from NewKey, "<kind>/<user id>/<16 random hex digits>": a new
// upload gets a new key, so an object never changes under its key and may be
// cached until its URL expires. Nothing that does not have this shape is
// stored or served, which rules out path traversal.
//
// # Serving: signed URLs
//
// An <img src> cannot send the Authorization header the GraphQL API
// requires, and cookies are not used. So the GraphQL resolvers, which know
// whether the viewer may see a user, hand out a short-lived URL signed with
// HMAC-SHA256 (Signer.URL), and Handler serves whoever presents a valid,
// unexpired signature. A leaked URL stops working after at most 1.5×TTL;
// the expiry is rounded up to a TTL/2 window so the same URL is handed out
// for a while and the browser's cache stays effective. Responses are
// Cache-Control: private (never in a shared cache), carry an ETag (the
// immutable key) for 304s, and are hardened with X-Content-Type-Options:
// nosniff and Content-Security-Policy: default-src 'none', so even a file
// that is also valid HTML or SVG cannot run script on the API's origin.
package media
