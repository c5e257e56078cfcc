package users

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

// SignatureNotAllowed refuses a signature for a profile outside the
// Therapist and Assistant classes (R19).
const SignatureNotAllowed apperr.Code = "SIGNATURE_NOT_ALLOWED"

// ImageInput is the input of uploadProfilePicture and uploadSignature.
type ImageInput struct {
	UserID int            `json:"userId"`
	File   graphql.Upload `json:"file"`
}

// RemoveImageInput is the input of removeProfilePicture and removeSignature.
type RemoveImageInput struct {
	UserID int `json:"userId"`
}

// Images stores profile pictures and signatures (R18, R19).
type Images struct {
	profiles *Profiles
	store    *media.Store
	signer   media.Signer
	prefix   string
}

// NewImages returns an Images service. The URLs it hands out are absolute,
// publicURL + URLPrefix + "/<key>?exp=..&sig=..", so that an SPA on another
// origin or a mobile app can load them; publicURL "" gives relative URLs.
func NewImages(p *Profiles, store *media.Store, signer media.Signer, publicURL string) *Images {
	return &Images{profiles: p, store: store, signer: signer, prefix: strings.TrimSuffix(publicURL, "/") + URLPrefix}
}

// URLPrefix is where the server mounts media.Handler.
const URLPrefix = "/media"

// PictureURL is a short-lived signed URL of the user's picture, or nil.
func (im *Images) PictureURL(u *ent.User) *string { return im.url(u.PictureKey) }

// SignatureURL is a short-lived signed URL of the user's signature, or nil.
func (im *Images) SignatureURL(u *ent.User) *string { return im.url(u.SignatureKey) }

func (im *Images) url(key *string) *string {
	if key == nil {
		return nil
	}
	u := im.signer.URL(im.prefix, *key)
	return &u
}

// UploadPicture sets a user's profile picture. A picture that breaks a rule
// is refused and nothing changes (R18).
func (im *Images) UploadPicture(ctx context.Context, in ImageInput) (*UserPayload, error) {
	return im.upload(ctx, in, media.KindPicture)
}

// UploadSignature sets a Therapist- or Assistant-class user's signature (R19).
func (im *Images) UploadSignature(ctx context.Context, in ImageInput) (*UserPayload, error) {
	return im.upload(ctx, in, media.KindSignature)
}

// RemovePicture removes a user's profile picture.
func (im *Images) RemovePicture(ctx context.Context, in RemoveImageInput) (*UserPayload, error) {
	return im.remove(ctx, in.UserID, media.KindPicture)
}

// RemoveSignature removes a user's signature.
func (im *Images) RemoveSignature(ctx context.Context, in RemoveImageInput) (*UserPayload, error) {
	return im.remove(ctx, in.UserID, media.KindSignature)
}

func (im *Images) upload(ctx context.Context, in ImageInput, kind media.Kind) (*UserPayload, error) {
	u, err := im.profiles.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	if kind == media.KindSignature {
		if class, _ := u.UserType.Class(); class != staff.Therapist && class != staff.Assistant {
			return failed(apperr.List{apperr.New(media.Field, SignatureNotAllowed,
				"only Therapist- and Assistant-class profiles carry a signature")}), nil
		}
	}
	if in.File.File == nil {
		return failed(apperr.List{apperr.New(media.Field, apperr.Required, "no file was uploaded")}), nil
	}
	img, errs := media.Validate(kind, in.File.File, in.File.Size)
	if len(errs) > 0 {
		return failed(errs), nil
	}
	key := media.NewKey(kind, u.ID)
	if err := im.store.Put(ctx, key, img); err != nil {
		return nil, err
	}
	saved, err := im.setKey(ctx, u, kind, &key, map[string]any{"format": img.Format, "width": img.Width, "height": img.Height})
	if err != nil {
		im.deleteQuietly(ctx, key)
		return nil, err
	}
	im.deleteQuietly(ctx, oldKey(u, kind))
	return succeeded(saved, nil), nil
}

func (im *Images) remove(ctx context.Context, userID int, kind media.Kind) (*UserPayload, error) {
	u, err := im.profiles.Editable(ctx, userID)
	if err != nil {
		return nil, err
	}
	old := oldKey(u, kind)
	if old == "" {
		return succeeded(u, nil), nil
	}
	saved, err := im.setKey(ctx, u, kind, nil, nil)
	if err != nil {
		return nil, err
	}
	im.deleteQuietly(ctx, old)
	return succeeded(saved, nil), nil
}

// setKey points the profile at a stored image (or none) and records it.
func (im *Images) setKey(ctx context.Context, u *ent.User, kind media.Kind, key *string, details map[string]any) (*ent.User, error) {
	action := auditevent.ActionUSER_PICTURE_CHANGED
	if kind == media.KindSignature {
		action = auditevent.ActionUSER_SIGNATURE_CHANGED
	}
	var saved *ent.User
	err := txn.WithTx(ctx, im.profiles.client, func(tx *ent.Tx) error {
		upd := tx.User.UpdateOneID(u.ID)
		switch {
		case kind == media.KindPicture && key != nil:
			upd.SetPictureKey(*key)
		case kind == media.KindPicture:
			upd.ClearPictureKey()
		case key != nil:
			upd.SetSignatureKey(*key)
		default:
			upd.ClearSignatureKey()
		}
		var err error
		if saved, err = upd.Save(ctx); err != nil {
			return err
		}
		after := map[string]any{"removed": key == nil}
		for k, v := range details {
			after[k] = v
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: action,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID, After: after})
	})
	return saved, err
}

func oldKey(u *ent.User, kind media.Kind) string {
	k := u.PictureKey
	if kind == media.KindSignature {
		k = u.SignatureKey
	}
	if k == nil {
		return ""
	}
	return *k
}

// deleteQuietly removes a blob no profile points at any more; a failure
// leaves an orphan, never a broken profile, so it is only logged.
func (im *Images) deleteQuietly(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if err := im.store.Delete(ctx, key); err != nil && !errors.Is(err, media.ErrNotFound) {
		slog.WarnContext(ctx, "deleting a replaced image", "key", key, "error", err)
	}
}
