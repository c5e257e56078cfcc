package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLength is the shortest signing secret accepted (256 bits).
const MinSecretLength = 32

// signingMethod is pinned: tokens signed any other way, including "none",
// are refused.
var signingMethod = jwt.SigningMethodHS256

type claims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// tokenIssuer signs and checks access tokens.
type tokenIssuer struct {
	secret   []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

func (t *tokenIssuer) issue(userID, sessionID int) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	c := claims{
		SessionID: strconv.Itoa(sessionID),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.Itoa(userID),
			Issuer:    t.issuer,
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(signingMethod, c).SignedString(t.secret)
	return s, exp, err
}

// parse checks a token's signature, algorithm, issuer, audience and times,
// and returns its user and session.
func (t *tokenIssuer) parse(token string) (userID, sessionID int, err error) {
	var c claims
	_, err = jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{signingMethod.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return 0, 0, errTokenExpired
		}
		return 0, 0, errTokenInvalid
	}
	userID, err1 := strconv.Atoi(c.Subject)
	sessionID, err2 := strconv.Atoi(c.SessionID)
	if err1 != nil || err2 != nil {
		return 0, 0, errTokenInvalid
	}
	return userID, sessionID, nil
}

var (
	errTokenExpired = errors.New("the access token has expired: refresh the session")
	errTokenInvalid = errors.New("the access token is not valid")
	errSessionEnded = errors.New("the session has ended: sign in again")
	// errTokenUncheckable wraps a failure to read the session; its details
	// are logged, never answered.
	errTokenUncheckable = errors.New("the access token could not be checked: try again")
)

// newRefreshToken returns a random refresh token and the hash stored for it.
func newRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("generating refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefreshToken(token), nil
}

// hashRefreshToken: refresh tokens are 256 random bits, so a plain SHA-256
// is enough to make a stolen table useless.
func hashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
