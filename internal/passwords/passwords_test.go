package passwords_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/passwords"
)

// The production cost is a security decision: changing it must be deliberate.
func TestProductionParamsArePinned(t *testing.T) {
	want := passwords.Params{Time: 2, Memory: 19 * 1024, Threads: 1}
	if passwords.Production != want {
		t.Fatalf("production argon2id parameters are %+v, want OWASP's minimum %+v", passwords.Production, want)
	}
	h, err := passwords.Hash("Tr0ub4dor&3-horse-Battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("a hash by default is %q, want production parameters", h)
	}
}

// Hashes carry their parameters: one made cheaply verifies after the
// parameters change back, and the other way round.
func TestHashesCarryTheirParams(t *testing.T) {
	strong, err := passwords.Hash("Correct-Horse-Battery-Staple-9!")
	if err != nil {
		t.Fatal(err)
	}
	passwords.UseParams(passwords.Cheap)
	defer passwords.UseParams(passwords.Production)
	cheap, err := passwords.Hash("Correct-Horse-Battery-Staple-9!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cheap, "m=8,t=1,p=1") {
		t.Fatalf("cheap hash %q", cheap)
	}
	for _, h := range []string{strong, cheap} {
		if ok, err := passwords.Verify(h, "Correct-Horse-Battery-Staple-9!"); !ok || err != nil {
			t.Errorf("%s does not verify: %v", h, err)
		}
		if ok, _ := passwords.Verify(h, "correct-horse-battery-staple-9!"); ok {
			t.Errorf("%s verifies a wrong password", h)
		}
	}
	passwords.VerifyDummy("anything")
}

func TestUnusableMatchesNothingAndCostsAVerification(t *testing.T) {
	passwords.UseParams(passwords.Production)
	defer passwords.UseParams(passwords.Production)
	h, _ := passwords.Hash("Some-Real-Password-1!")
	passwords.VerifyDummy("warm up") // makes the dummy hash
	for _, pw := range []string{"", passwords.Unusable, "!unusable", "Some-Real-Password-1!"} {
		if ok, err := passwords.Verify(passwords.Unusable, pw); ok || err != nil {
			t.Fatalf("Verify(Unusable, %q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	// Best of five each, taken in turns, so that load from elsewhere on
	// the machine weighs on both alike.
	real, unusable := time.Duration(1<<62), time.Duration(1<<62)
	timeOf := func(encoded string) time.Duration {
		start := time.Now()
		_, _ = passwords.Verify(encoded, "Wrong-Password-1!")
		return time.Since(start)
	}
	for range 5 {
		real = min(real, timeOf(h))
		unusable = min(unusable, timeOf(passwords.Unusable))
	}
	if unusable < real/2 {
		t.Fatalf("verifying against Unusable took %v, a real hash %v: sign-in would tell invited accounts apart (R29)", unusable, real)
	}
}
