package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// BlobSchemes are the bucket URL schemes the binary opens (the gocloud
// drivers internal/media imports); a test keeps the two lists equal.
var BlobSchemes = []string{"file", "mem", "s3"}

// secretVariables are never printed; URLs that may carry a password are
// printed with it masked.
var secretVariables = map[string]bool{"JWT_SECRET": true}

// checker collects the problems of a configuration, each naming its
// variable.
type checker struct {
	vars     map[string]string
	problems []string
	// bad holds the variables already reported, so that a value that
	// could not be parsed is not also reported as out of range.
	bad map[string]bool
}

// fail reports a problem with variable name.
func (ch *checker) fail(name, format string, args ...any) {
	if ch.bad[name] {
		return
	}
	ch.bad[name] = true
	ch.problems = append(ch.problems, name+": "+fmt.Sprintf(format, args...))
}

// failValue reports a problem with variable name, quoting its value (its
// default if unset), unless it is a secret.
func (ch *checker) failValue(name, value, format string, args ...any) {
	switch {
	case secretVariables[name]:
		ch.fail(name, format, args...)
	case name == "DATABASE_URL" || name == "SMTP_URL" || name == "BLOB_URL":
		ch.fail(name, "%s "+format, append([]any{redactURL(value)}, args...)...)
	default:
		ch.fail(name, "%q "+format, append([]any{value}, args...)...)
	}
}

// raw is the text of variable name: its value, or its default.
func (ch *checker) raw(name string) string {
	if v, ok := ch.vars[name]; ok && v != "" {
		return v
	}
	if f, ok := fieldByVariable(name); ok {
		return f.Tag.Get("envDefault")
	}
	return ""
}

// redactURL quotes a URL with its password masked, or says it cannot be
// shown when it may hold a password that cannot be masked (it does not
// parse, or it is a key=value DSN with a password).
func redactURL(s string) string {
	const hidden = "(value not shown: it may hold a password)"
	u, err := url.Parse(s)
	if err != nil || strings.Contains(strings.ToLower(s), "password") {
		return hidden
	}
	if _, has := u.User.Password(); has {
		return strconv.Quote(u.Redacted())
	}
	return strconv.Quote(s)
}

func fieldByVariable(name string) (reflect.StructField, bool) {
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("env") == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// parseErrors translates the parser's errors, which name Go fields, into
// problems naming variables.
func (ch *checker) parseErrors(err error) {
	var agg env.AggregateError
	errs := []error{err}
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	t := reflect.TypeOf(Config{})
	for _, e := range errs {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			ch.problems = append(ch.problems, e.Error())
			continue
		}
		f, ok := t.FieldByName(pe.Name)
		if !ok {
			ch.problems = append(ch.problems, e.Error())
			continue
		}
		name := f.Tag.Get("env")
		typ := f.Type
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		var want string
		switch {
		case typ == reflect.TypeOf(time.Duration(0)):
			want = "is not a duration such as 90s, 15m or 1h30m"
		case typ.Kind() == reflect.Bool:
			want = "is not true or false"
		case typ.Kind() == reflect.Int:
			want = "is not a whole number"
		default:
			want = "cannot be read as " + typ.String()
		}
		ch.failValue(name, ch.raw(name), "%s", want)
	}
}

// normalize trims the entries of the lists and drops empty ones, and
// trims PUBLIC_URL's trailing slash.
func (c *Config) normalize() {
	c.CORSAllowedOrigins = trimList(c.CORSAllowedOrigins)
	c.CORSAllowedHeaders = trimList(c.CORSAllowedHeaders)
	c.TrustedProxies = trimList(c.TrustedProxies)
	c.PublicURL = strings.TrimRight(strings.TrimSpace(c.PublicURL), "/")
	c.LogFormat = strings.ToLower(strings.TrimSpace(c.LogFormat))
	c.LogLevel = strings.ToLower(strings.TrimSpace(c.LogLevel))
}

func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// validate checks every variable's value and the relations between them.
func (c *Config) validate(ch *checker) {
	// Durations.
	atLeast := func(name string, d, min time.Duration) {
		if d < min {
			ch.failValue(name, ch.raw(name), "must be at least %s", min)
		}
	}
	atLeast("ACCESS_TOKEN_TTL", c.AccessTokenTTL, time.Second)
	atLeast("REFRESH_TOKEN_TTL", c.RefreshTokenTTL, time.Second)
	if !ch.bad["ACCESS_TOKEN_TTL"] && !ch.bad["REFRESH_TOKEN_TTL"] && c.RefreshTokenTTL <= c.AccessTokenTTL {
		ch.failValue("REFRESH_TOKEN_TTL", ch.raw("REFRESH_TOKEN_TTL"), "must be longer than ACCESS_TOKEN_TTL (%s)", c.AccessTokenTTL)
	}
	atLeast("SHUTDOWN_TIMEOUT", c.ShutdownTimeout, time.Second)
	if c.ShutdownDrain != nil && *c.ShutdownDrain < 0 {
		ch.failValue("SHUTDOWN_DRAIN", ch.raw("SHUTDOWN_DRAIN"), "must not be negative (0 closes the listener at once)")
	}
	atLeast("LICENSE_ADJUSTMENT_WINDOW", c.AdjustmentWindow, time.Second)
	atLeast("JOB_RETRY_BASE", c.JobRetryBase, 10*time.Millisecond)
	if !ch.bad["JOB_RETRY_BASE"] && c.JobRetryMax < c.JobRetryBase {
		ch.failValue("JOB_RETRY_MAX", ch.raw("JOB_RETRY_MAX"), "must be at least JOB_RETRY_BASE (%s)", c.JobRetryBase)
	}
	atLeast("JOB_TIMEOUT", c.JobTimeout, time.Second)
	if !ch.bad["JOB_TIMEOUT"] && c.JobRescueAfter <= c.JobTimeout {
		ch.failValue("JOB_RESCUE_AFTER", ch.raw("JOB_RESCUE_AFTER"), "must be longer than JOB_TIMEOUT (%s)", c.JobTimeout)
	}
	atLeast("JOB_POLL_INTERVAL", c.JobPollInterval, 10*time.Millisecond)
	atLeast("PASSWORD_RESET_TTL", c.PasswordResetTTL, time.Minute)
	atLeast("INVITATION_TTL", c.InvitationTTL, time.Hour)
	atLeast("LOCKOUT_BASE", c.LockoutBase, time.Second)
	if !ch.bad["LOCKOUT_BASE"] && c.LockoutMax < c.LockoutBase {
		ch.failValue("LOCKOUT_MAX", ch.raw("LOCKOUT_MAX"), "must be at least LOCKOUT_BASE (%s)", c.LockoutBase)
	}
	atLeast("OPERATION_TIMEOUT", c.OperationTimeout, time.Second)
	atLeast("REQUEST_BODY_TIMEOUT", c.BodyTimeout, time.Second)
	atLeast("UPLOAD_TIMEOUT", c.UploadTimeout, time.Second)

	// Counts.
	if c.LockoutThreshold < 1 {
		ch.failValue("LOCKOUT_THRESHOLD", ch.raw("LOCKOUT_THRESHOLD"), "must be at least 1")
	}
	if c.LockoutIPLimit < 1 {
		ch.failValue("LOCKOUT_IP_THRESHOLD", ch.raw("LOCKOUT_IP_THRESHOLD"), "must be at least 1")
	}

	// Choices.
	if c.LogFormat != "text" && c.LogFormat != "json" {
		ch.failValue("LOG_FORMAT", ch.raw("LOG_FORMAT"), "must be text or json")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ch.failValue("LOG_LEVEL", ch.raw("LOG_LEVEL"), "must be debug, info, warn or error")
	}
	if c.TLSTermination != "" && c.TLSTermination != "proxy" {
		ch.failValue("TLS_TERMINATION", c.TLSTermination, `must be "proxy" (or unset)`)
	}

	// Secrets: never quoted.
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 && !c.Production {
		// (Production reports it as too weak.)
		ch.fail("JWT_SECRET", "must be at least 32 bytes (value not shown)")
	}

	// Addresses.
	if msg := checkListenAddr(c.HTTPAddr); msg != "" {
		ch.failValue("HTTP_ADDR", c.HTTPAddr, "%s", msg)
	}
	if c.MetricsAddr != "" {
		if msg := checkListenAddr(c.MetricsAddr); msg != "" {
			ch.failValue("METRICS_ADDR", c.MetricsAddr, "%s", msg)
		} else if !ch.bad["HTTP_ADDR"] && sameListener(c.HTTPAddr, c.MetricsAddr) {
			ch.failValue("METRICS_ADDR", c.MetricsAddr, "must differ from HTTP_ADDR (%q); leave it unset to serve /metrics on HTTP_ADDR", c.HTTPAddr)
		}
	}
	for _, s := range c.TrustedProxies {
		if _, ok := proxyPrefix(s); !ok {
			ch.failValue("TRUSTED_PROXIES", s, "is neither an address nor a CIDR range (such as 10.0.0.1 or 10.0.0.0/8)")
		}
	}

	// URLs.
	if c.PublicURL != "" {
		if msg := checkPublicURL(c.PublicURL); msg != "" {
			ch.failValue("PUBLIC_URL", c.PublicURL, "%s", msg)
		}
	}
	for _, o := range c.CORSAllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			ch.failValue("CORS_ALLOWED_ORIGINS", o, "%s", msg)
		}
	}
	for _, h := range c.CORSAllowedHeaders {
		if !validToken(h) {
			ch.failValue("CORS_ALLOWED_HEADERS", h, "is not a header name")
		}
	}
	if u, err := url.Parse(c.PasswordResetURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ch.failValue("PASSWORD_RESET_URL", c.PasswordResetURL, "must be an absolute http:// or https:// URL, such as https://admin.example.com/reset-password")
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			ch.failValue("DATABASE_URL", c.DatabaseURL, "must be a postgres:// or postgresql:// URL (unset for the embedded database)")
		}
	}
	if c.BlobURL != "" {
		if msg := checkBlobURL(c.BlobURL); msg != "" {
			ch.failValue("BLOB_URL", c.BlobURL, "%s", msg)
		}
	}
	if c.SMTPURL != "" {
		if msg := checkSMTPURL(c.SMTPURL); msg != "" {
			ch.failValue("SMTP_URL", c.SMTPURL, "%s", msg)
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		ch.failValue("MAIL_FROM", c.MailFrom, "is not an email address such as \"User Manager <no-reply@example.com>\"")
	}

	// TLS: the files must load, so that serve does not fail after it has
	// said it is ready.
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		if c.TLSCertFile == "" {
			ch.fail("TLS_CERT_FILE", "must be set with TLS_KEY_FILE (they go together)")
		} else {
			ch.fail("TLS_KEY_FILE", "must be set with TLS_CERT_FILE (they go together)")
		}
	case c.TLSCertFile != "":
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			ch.fail("TLS_CERT_FILE", "%q and TLS_KEY_FILE %q do not load as a certificate and its key: %v", c.TLSCertFile, c.TLSKeyFile, err)
		}
	}
}

// checkListenAddr returns what is wrong with a host:port listen address.
func checkListenAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be host:port, such as :8080 or 127.0.0.1:8080"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "has no port number (0 to 65535)"
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "has an invalid host: use an IP address or a host name"
		}
	}
	return ""
}

// sameListener reports whether two valid listen addresses would clash.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// checkOrigin: * or scheme://host[:port], what a browser sends as Origin.
func checkOrigin(o string) string {
	const want = "must be * or scheme://host[:port], such as https://admin.example.com"
	if o == "*" {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return want + " (no path, not even /, no query)"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return want + " (the port is not a number)"
		}
	}
	return ""
}

func checkPublicURL(s string) string {
	const want = "must be an absolute http:// or https:// URL without query or fragment, such as https://users.example.com"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return want
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return want
		}
	}
	return ""
}

func checkBlobURL(s string) string {
	want := "must be a bucket URL: s3://bucket?region=..., file:///dir or mem:// (schemes: " + strings.Join(BlobSchemes, ", ") + ")"
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return want
	}
	known := false
	for _, scheme := range BlobSchemes {
		known = known || u.Scheme == scheme
	}
	switch {
	case !known:
		return "has an unsupported scheme " + strconv.Quote(u.Scheme) + ": " + want
	case u.Scheme == "s3" && u.Host == "":
		return "names no bucket: " + want
	case u.Scheme == "file" && u.Path == "":
		return "names no directory: " + want
	}
	return ""
}

func checkSMTPURL(s string) string {
	const want = "must be smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none] or smtps://[user:password@]host[:port]"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return want
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return want + " (the port is not a number)"
		}
	}
	if u.Scheme == "smtp" {
		switch u.Query().Get("tls") {
		case "", "mandatory", "opportunistic", "none":
		default:
			return want + " (tls= must be mandatory, opportunistic or none)"
		}
	}
	return ""
}

// validToken: an HTTP header name (RFC 9110 token).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", r) {
			return false
		}
	}
	return true
}
