package syncmodel

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// celCostLimit bounds one evaluation of a configured expression, so a pathological rule
// fails with an error instead of stalling an activity.
const celCostLimit = 100_000

// The CEL views are typed (not maps) so that a typo such as person.frstName is rejected
// when the mapping is loaded, not when a rule first runs.

// celPerson is `person` in expressions.
type celPerson struct {
	FirstName string            `cel:"firstName"`
	LastName  string            `cel:"lastName"`
	Email     string            `cel:"email"`
	Phone     string            `cel:"phone"`
	DND       bool              `cel:"dnd"`
	Tags      []string          `cel:"tags"` // lower-cased
	Custom    map[string]string `cel:"custom"`
	Source    string            `cel:"source"`
}

// celEvent is `event` in rule conditions.
type celEvent struct {
	Kind      string `cel:"kind"`
	Side      string `cel:"side"`
	ContactID string `cel:"contactId"`
	New       bool   `cel:"new"`
}

// celNote is `note` in rules on notes; Body is plain text (HTML stripped).
type celNote struct {
	ID        string    `cel:"id"`
	Body      string    `cel:"body"`
	DateAdded time.Time `cel:"dateAdded"`
}

// celTask is `task` in rules on tasks.
type celTask struct {
	ID        string    `cel:"id"`
	Title     string    `cel:"title"`
	Body      string    `cel:"body"`
	DueDate   time.Time `cel:"dueDate"`
	Completed bool      `cel:"completed"`
}

// celAppointment is `appointment` in rules on appointments.
type celAppointment struct {
	ID        string    `cel:"id"`
	Title     string    `cel:"title"`
	Status    string    `cel:"status"`
	StartTime time.Time `cel:"startTime"`
}

func personView(p Person) celPerson {
	tags := foldTags(p.Tags) // tags compare case-insensitively everywhere, rules too
	custom := p.Custom
	if custom == nil {
		custom = map[string]string{}
	}
	return celPerson{FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone,
		DND: p.DND, Tags: tags, Custom: custom, Source: p.Source}
}

// celEnvs are built once per process: building an environment is the expensive part.
type celEnvs struct {
	transform *cel.Env
	rules     map[EventKind]*cel.Env
}

var envs = sync.OnceValues(func() (*celEnvs, error) {
	base, err := cel.NewEnv(
		ext.NativeTypes(ext.ParseStructTags(true),
			reflect.TypeFor[celPerson](), reflect.TypeFor[celEvent](), reflect.TypeFor[celNote](),
			reflect.TypeFor[celTask](), reflect.TypeFor[celAppointment]()),
		ext.Strings(),
		cel.OptionalTypes(),
		cel.Variable("person", cel.ObjectType("syncmodel.celPerson")),
		cel.Function("slug", cel.Overload("slug_string", []*cel.Type{cel.StringType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.Value().(string)
				if !ok {
					return types.NewErr("slug: want a string")
				}
				return types.String(Slug(s))
			}))),
	)
	if err != nil {
		return nil, fmt.Errorf("build CEL environment: %w", err)
	}
	out := &celEnvs{rules: map[EventKind]*cel.Env{}}
	if out.transform, err = base.Extend(cel.Variable("value", cel.StringType)); err != nil {
		return nil, fmt.Errorf("build CEL transform environment: %w", err)
	}
	event := cel.Variable("event", cel.ObjectType("syncmodel.celEvent"))
	subjects := map[EventKind]cel.EnvOption{
		EventContact:      nil,
		EventNotes:        cel.Variable("note", cel.ObjectType("syncmodel.celNote")),
		EventTasks:        cel.Variable("task", cel.ObjectType("syncmodel.celTask")),
		EventAppointments: cel.Variable("appointment", cel.ObjectType("syncmodel.celAppointment")),
	}
	for kind, subject := range subjects {
		opts := []cel.EnvOption{event}
		if subject != nil {
			opts = append(opts, subject)
		}
		if out.rules[kind], err = base.Extend(opts...); err != nil {
			return nil, fmt.Errorf("build CEL rule environment: %w", err)
		}
	}
	return out, nil
})

// compileExpr compiles src in env and checks it yields want. Errors name the column.
func compileExpr(env *cel.Env, src string, want *cel.Type) (cel.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%s (column %d)", e.Message, e.Location.Column()+1))
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if out := ast.OutputType(); !out.IsExactType(want) && out.Kind() != types.DynKind {
		return nil, fmt.Errorf("must evaluate to %s, not %s", want, out)
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return nil, fmt.Errorf("prepare expression: %w", err)
	}
	return prg, nil
}

// evalString runs a program that yields a string.
func evalString(prg cel.Program, vars map[string]any) (string, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return "", err
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("evaluated to %s, want string", out.Type().TypeName())
	}
	return s, nil
}

// evalBool runs a program that yields a bool.
func evalBool(prg cel.Program, vars map[string]any) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluated to %s, want bool", out.Type().TypeName())
	}
	return b, nil
}

// Slug lower-cases s and turns every run of characters other than letters and digits into
// one "-", trimmed at both ends: "Facebook Ads!" becomes "facebook-ads". Expressions call it
// as slug(s), e.g. to build labels such as "src-" + slug(person.source).
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}
