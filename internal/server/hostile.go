package server

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/textinput"
)

// inputCheck applies R36 to every argument of an operation, nested fields
// included, before anything of it runs: text (internal/textinput), IDs,
// cursors and times. It reads the raw argument values, so a malformed value
// is refused with a message naming it rather than failing (or panicking, as
// ent's eager loading does on a bad cursor) deep inside execution.
//
// A problem in the input of a root mutation field that the client can fix
// in a form (text, an ID) is answered the way the API answers rule
// violations (R10): the mutation's payload with userErrors naming the
// fields, and the resolver is not called, so nothing is written. Anything
// else is the GraphQL error BAD_USER_INPUT and the operation does not run.
type inputCheck struct {
	resolver reflect.Type
	schema   *ast.Schema
	// payloads are the Go payload types of root mutation fields, by field
	// name, and where their userErrors are.
	payloads map[string]payloadType
}

type payloadType struct {
	typ        reflect.Type // a pointer to a struct
	userErrors []int        // index of its UserErrors field
}

// keepsOwnAnswer are mutations whose answer must not change with what was
// typed (R29, R30): their services answer text that cannot be a name as
// they answer an unknown name, without looking it up.
var keepsOwnAnswer = map[string]bool{"login": true, "requestPasswordReset": true}

// maxInputProblems bounds the errors of one answer.
const maxInputProblems = 20

var userErrorsType = reflect.TypeFor[[]*apperr.UserError]()

// newInputCheck returns the check as a gqlgen extension. MutationResolver is
// the generated resolver interface, whose methods return (*Payload, error):
// the payloads of refused mutations are built from it.
func newInputCheck[MutationResolver any]() *inputCheck {
	return &inputCheck{resolver: reflect.TypeFor[MutationResolver]()}
}

func (c *inputCheck) ExtensionName() string { return "InputCheck" }

// Validate finds every mutation's payload type, and fails the start of a
// server where a mutation answering userErrors has none.
func (c *inputCheck) Validate(es graphql.ExecutableSchema) error {
	c.schema, c.payloads = es.Schema(), map[string]payloadType{}
	if c.schema.Mutation == nil {
		return nil
	}
	for _, field := range c.schema.Mutation.Fields {
		for m := range c.resolver.Methods() {
			// gqlgen names a method after its field, upper-casing the first
			// letter and initialisms.
			if !strings.EqualFold(m.Name, field.Name) || m.Type.NumOut() != 2 {
				continue
			}
			out := m.Type.Out(0)
			if out.Kind() != reflect.Pointer || out.Elem().Kind() != reflect.Struct {
				continue
			}
			for f := range out.Elem().Fields() {
				if strings.Split(f.Tag.Get("json"), ",")[0] == "userErrors" && f.Type == userErrorsType {
					c.payloads[field.Name] = payloadType{typ: out, userErrors: f.Index}
				}
			}
		}
		payload := c.schema.Types[field.Type.Name()]
		if _, ok := c.payloads[field.Name]; !ok && payload != nil && payload.Fields.ForName("userErrors") != nil {
			return fmt.Errorf("input check: no payload type with UserErrors found for mutation %s", field.Name)
		}
	}
	return nil
}

type refusedKey struct{}

// refused are userErrors of root mutation fields, by alias.
type refused map[string]apperr.List

// InterceptOperation checks an operation's arguments before it runs.
func (c *inputCheck) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil {
		return next(ctx)
	}
	w := &argWalker{schema: c.schema, vars: oc.Variables, seen: map[string]bool{}, refused: refused{}}
	w.selections(oc.Operation.SelectionSet, nil, oc.Operation.Operation == ast.Mutation)
	if len(w.errs) > 0 {
		// The client's mistake, not the server's: no stack, no error level.
		slog.InfoContext(ctx, "operation refused: malformed arguments",
			"problems", len(w.errs), "first", w.errs[0].Message)
		return graphql.OneShot(&graphql.Response{Errors: w.errs})
	}
	if len(w.refused) > 0 {
		ctx = context.WithValue(ctx, refusedKey{}, w.refused)
	}
	return next(ctx)
}

// InterceptField answers a root mutation field whose input was refused with
// its payload carrying only userErrors, without calling the resolver.
func (c *inputCheck) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" {
		return next(ctx)
	}
	all, _ := ctx.Value(refusedKey{}).(refused)
	errs, ok := all[fc.Field.Alias]
	if !ok {
		return next(ctx)
	}
	p, ok := c.payloads[fc.Field.Name]
	if !ok {
		return nil, apperr.BadInput(errs[0].Message)
	}
	v := reflect.New(p.typ.Elem())
	v.Elem().FieldByIndex(p.userErrors).Set(reflect.ValueOf([]*apperr.UserError(errs)))
	return v.Interface(), nil
}

// argWalker visits every field of an operation, through fragments, and
// checks its arguments against their schema types.
type argWalker struct {
	schema  *ast.Schema
	vars    map[string]any
	seen    map[string]bool // fragments already checked
	errs    gqlerror.List
	refused refused
}

func (w *argWalker) selections(set ast.SelectionSet, path ast.Path, rootMutation bool) {
	for _, sel := range set {
		if len(w.errs) >= maxInputProblems {
			return
		}
		switch sel := sel.(type) {
		case *ast.Field:
			p := append(slices.Clip(path), ast.PathName(sel.Alias))
			w.field(sel, p, rootMutation)
			w.selections(sel.SelectionSet, p, false)
		case *ast.InlineFragment:
			w.selections(sel.SelectionSet, path, rootMutation)
		case *ast.FragmentSpread:
			// Arguments do not depend on where a fragment is spread, so
			// one visit is enough (and fragment fan-out costs nothing).
			key := strconv.FormatBool(rootMutation) + sel.Name
			if sel.Definition == nil || w.seen[key] {
				continue
			}
			w.seen[key] = true
			w.selections(sel.Definition.SelectionSet, path, rootMutation)
		}
	}
}

// problem is one refused value: where in the argument, why, and whether a
// mutation may report it as a userError.
type problem struct {
	at, why string
	code    apperr.Code // set for problems a mutation reports as userErrors
}

func (w *argWalker) field(f *ast.Field, path ast.Path, rootMutation bool) {
	if f.Definition == nil || len(f.Definition.Arguments) == 0 {
		return
	}
	args := f.ArgumentMap(w.vars)
	v := valueCheck{schema: w.schema, mutation: rootMutation, text: !(rootMutation && keepsOwnAnswer[f.Name])}
	for _, def := range f.Definition.Arguments {
		if a, ok := args[def.Name]; ok {
			v.value(a, def.Type, def.Name, "", "")
		}
	}
	if len(v.problems) == 0 {
		return
	}
	if rootMutation && !slices.ContainsFunc(v.problems, func(p problem) bool { return p.code == "" }) {
		var list apperr.List
		for _, p := range v.problems {
			field := strings.TrimPrefix(p.at, "input.")
			list.Add(field, p.code, "%s %s", field, p.why)
		}
		w.refused[f.Alias] = list
		return
	}
	for _, p := range v.problems {
		if len(w.errs) >= maxInputProblems {
			return
		}
		w.errs = append(w.errs, &gqlerror.Error{
			Message:    fmt.Sprintf("argument %s of %s %s", p.at, f.Name, p.why),
			Path:       path,
			Locations:  []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}},
			Extensions: map[string]any{"code": apperr.CodeBadUserInput, "argument": p.at},
		})
	}
}

// valueCheck checks the raw values of one field's arguments.
type valueCheck struct {
	schema *ast.Schema
	// mutation: the arguments of a root mutation field, whose text lengths
	// are the service's rules (TOO_LONG); text: check text at all.
	mutation, text bool
	problems       []problem
}

// value checks v of type t at path at; inputType.field is where it sits
// when it is a field of an input object.
func (c *valueCheck) value(v any, t *ast.Type, at, inputType, field string) {
	if v == nil || len(c.problems) >= maxInputProblems {
		return
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok { // a single value stands for a list of one
			c.value(v, t.Elem, at, inputType, field)
			return
		}
		for i, e := range list {
			c.value(e, t.Elem, at+"."+strconv.Itoa(i), inputType, field)
		}
		return
	}
	switch t.NamedType {
	case "String":
		s, _ := v.(string)
		if !c.text {
			return
		}
		if why := textinput.Problem(s, textinput.IsMultiLine(inputType, field)); why != "" {
			c.problems = append(c.problems, problem{at: at, why: why, code: textinput.InvalidCharacters})
			return
		}
		max := textinput.MaxArgument
		if inputType != "" {
			max = textinput.MaxFilter
		}
		// A mutation's own text is bounded by its rules (TOO_LONG); a
		// filter it carries (exportUsers' UserSearch: filter types are
		// named *Search) is capped here as the query's is.
		filter := strings.HasSuffix(inputType, "Search")
		if (!c.mutation || filter) && utf8.RuneCountInString(s) > max {
			p := problem{at: at, why: fmt.Sprintf("is longer than %d characters", max)}
			if c.mutation {
				p.code = apperr.TooLong
			}
			c.problems = append(c.problems, p)
		}
	case "ID":
		if why := gid.Check(v); why != "" {
			c.problems = append(c.problems, problem{at: at, why: why, code: gid.InvalidCode})
		}
	case "Cursor":
		if why := checkCursor(v); why != "" {
			c.problems = append(c.problems, problem{at: at, why: why})
		}
	case "Time":
		if _, err := graphql.UnmarshalTime(v); err != nil {
			c.problems = append(c.problems, problem{at: at, why: "is not an RFC 3339 date and time"})
		}
	default:
		def := c.schema.Types[t.NamedType]
		if def == nil || def.Kind != ast.InputObject {
			return // enums and other scalars: checked by GraphQL validation
		}
		obj, _ := v.(map[string]any)
		for _, f := range def.Fields {
			if fv, ok := obj[f.Name]; ok {
				c.value(fv, f.Type, at+"."+f.Name, def.Name, f.Name)
			}
		}
	}
}

// checkCursor says why v is not a cursor this server issued. Cursors are
// short; a long one is refused before decoding it costs anything.
func checkCursor(v any) string {
	const why = "is not a cursor this server issued"
	if s, ok := v.(string); !ok || len(s) > textinput.MaxArgument {
		return why
	}
	var c entgql.Cursor[int]
	if c.UnmarshalGQL(v) != nil {
		return why
	}
	switch c.Value.(type) {
	case nil, string, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, time.Time:
		return ""
	}
	return why
}
