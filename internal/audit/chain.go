package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/clinicemr/usermanager/ent"
)

// The audit trail is tamper-evident (R31): every record is bound into a
// hash chain of its organization (one chain per organization; records of no
// organization form chain 0). Link n is
//
//	hash(n) = hex(SHA-256(hash(n-1) + "\n" + canonical content of record n))
//
// with hash(0) = "". Changing a record changes its content's hash; removing
// one leaves a link without its record; reordering changes what each link
// covers. Links are kept in audit_seals (ent/schema/audit_seal.go), written
// by the sealer (seal.go) and checked by Verify (verify.go).

// NoOrganization is the chain of records that belong to no organization
// (Support's own sign-ins, sign-in attempts for unknown usernames).
const NoOrganization = 0

// canonicalRecord is what a link covers: every field of an audit record,
// in this fixed order. Times are UTC with nanoseconds, always 9 digits;
// before and after are JSON with sorted keys (encoding/json sorts map
// keys), so the same record always has the same bytes, whichever database
// it was read from.
type canonicalRecord struct {
	ID             int            `json:"id"`
	OrganizationID *int           `json:"organizationId"`
	CreatedAt      string         `json:"createdAt"`
	Action         string         `json:"action"`
	ActorID        *int           `json:"actorId"`
	ActorUsername  string         `json:"actorUsername"`
	TargetType     string         `json:"targetType"`
	TargetID       *int           `json:"targetId"`
	TargetUserID   *int           `json:"targetUserId"`
	Before         map[string]any `json:"before"`
	After          map[string]any `json:"after"`
	Outcome        string         `json:"outcome"`
	Reason         string         `json:"reason"`
	ClientIP       string         `json:"clientIp"`
	RequestID      string         `json:"requestId"`
}

const canonicalTime = "2006-01-02T15:04:05.000000000Z"

// canonicalContent is the bytes of e that its link hashes.
func canonicalContent(e *ent.AuditEvent) ([]byte, error) {
	return json.Marshal(canonicalRecord{
		ID:             e.ID,
		OrganizationID: e.OrganizationID,
		CreatedAt:      e.CreatedAt.UTC().Format(canonicalTime),
		Action:         string(e.Action),
		ActorID:        e.ActorID,
		ActorUsername:  e.ActorUsername,
		TargetType:     e.TargetType,
		TargetID:       e.TargetID,
		TargetUserID:   e.TargetUserID,
		Before:         e.Before,
		After:          e.After,
		Outcome:        string(e.Outcome),
		Reason:         e.Reason,
		ClientIP:       e.ClientIP,
		RequestID:      e.RequestID,
	})
}

// link is the hash that binds e after the link prevHash.
func link(prevHash string, e *ent.AuditEvent) (string, error) {
	content, err := canonicalContent(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write([]byte("\n"))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// chainOf is the chain e belongs to.
func chainOf(e *ent.AuditEvent) int {
	if e.OrganizationID == nil {
		return NoOrganization
	}
	return *e.OrganizationID
}
