package mail

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/riverqueue/river"
)

// SendArgs is the job that sends one message.
type SendArgs struct {
	Message Message `json:"message"`
}

// Kind names the job in the queue.
func (SendArgs) Kind() string { return "send_email" }

// SendWorker works SendArgs jobs.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Sender Sender
}

// Work sends the message; an error makes the queue retry it later.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	id := fmt.Sprintf("job-%d-%d", job.ID, job.CreatedAt.UnixNano())
	return w.Sender.Send(ctx, id, job.Args.Message)
}

//go:embed templates/*.txt
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.txt"))

// Render fills the template name (templates/<name>.txt) for to. A
// template's first line is "Subject: ...".
func Render(name, to string, data any) (Message, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name+".txt", data); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s: %w", name, err)
	}
	head, body, _ := strings.Cut(buf.String(), "\n")
	subject, ok := strings.CutPrefix(head, "Subject: ")
	if !ok {
		return Message{}, fmt.Errorf("mail: template %s has no Subject line", name)
	}
	return Message{To: to, Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n")}, nil
}
