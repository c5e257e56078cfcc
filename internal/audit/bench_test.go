package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/testdb"
)

// BenchmarkSeal10000 seals 10,000 records of 10 organizations and reports
// records sealed per second.
func BenchmarkSeal10000(b *testing.B) {
	const records = 10_000
	for _, dialectName := range dialects {
		b.Run(dialectName, func(b *testing.B) {
			var took time.Duration
			for range b.N {
				b.StopTimer()
				d, _ := testdb.New(b, dialectName, "migrated", nil)
				ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
				start := time.Now().Add(-time.Minute)
				for i := 0; i < records; i += 500 {
					batch := make([]*ent.AuditEventCreate, 500)
					for j := range batch {
						n := i + j
						batch[j] = d.Client.AuditEvent.Create().SetAction(auditevent.ActionUSER_UPDATED).
							SetOrganizationID(34 + n%10).SetCreatedAt(start.Add(time.Duration(n) * time.Millisecond)).
							SetActorUsername("admin").SetTargetType("User").SetTargetID(n).
							SetBefore(map[string]any{"lastName": "Doe"}).SetAfter(map[string]any{"lastName": fmt.Sprint("Roe ", n)}).
							SetClientIP("203.0.113.9").SetRequestID(fmt.Sprint("req-", n))
					}
					if err := d.Client.AuditEvent.CreateBulk(batch...).Exec(ctx); err != nil {
						b.Fatal(err)
					}
				}
				sealer := &audit.Sealer{Client: d.Client, Dialect: dialectName}
				b.StartTimer()
				began := time.Now()
				n, err := sealer.Seal(context.Background())
				took += time.Since(began)
				if err != nil || n != records {
					b.Fatalf("sealed %d, %v", n, err)
				}
			}
			b.ReportMetric(float64(records*b.N)/took.Seconds(), "records/s")
		})
	}
}
