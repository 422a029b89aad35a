package syncmodel

import (
	"strings"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"
)

// rules reads the rule list. A rule's expressions compile in the environment of its event
// kind, so a condition on contact events cannot mention `note`.
func (b *builder) rules(n *yaml.Node, path string) {
	ids := map[string]bool{}
	b.list(n, path, func(_ int, item *yaml.Node, rp string) {
		r := &Rule{}
		var whenNode, actionsNode *yaml.Node
		good := b.mapping(item, rp, ruleKeys, func(key string, _, v *yaml.Node) {
			kp := joinPath(rp, key)
			switch key {
			case "id":
				s, ok := b.str(v, kp)
				switch {
				case !ok:
				case !ruleIDPattern.MatchString(s):
					b.fail(v, kp, "%q: use lower-case letters, digits, - and _ (at most 64)", s)
				case ids[s]:
					b.fail(v, kp, "rule id %q is used twice", s)
				default:
					r.ID, ids[s] = s, true
				}
			case "on":
				if s, ok := b.str(v, kp); ok {
					if !contains(eventKinds, s) {
						b.fail(v, kp, "unknown event kind %q%s", s, hint(s, eventKinds))
						return
					}
					r.On = EventKind(s)
				}
			case "when":
				if s, ok := b.str(v, kp); ok {
					r.When, whenNode = s, v
				}
			case "actions":
				actionsNode = v
			}
		})
		if !good {
			return
		}
		if r.ID == "" && !hasKey(item, "id") {
			b.fail(item, rp, "id is required")
		}
		if r.On == "" && !hasKey(item, "on") {
			b.fail(item, rp, "on is required (%s)", strings.Join(eventKinds, ", "))
		}
		if actionsNode == nil {
			b.fail(item, rp, "actions is required")
		}
		var env *cel.Env
		if r.On != "" {
			e, err := envs()
			if err != nil {
				b.fail(item, rp, "%v", err)
				return
			}
			env = e.rules[r.On]
		}
		if env != nil && whenNode != nil {
			prg, err := compileExpr(env, r.When, cel.BoolType)
			if err != nil {
				b.fail(whenNode, joinPath(rp, "when"), "%v", err)
			}
			r.when = prg
			r.readsStatus = r.On == EventAppointments && readsAppointmentStatus.MatchString(r.When)
		}
		if actionsNode != nil {
			ap := joinPath(rp, "actions")
			b.list(actionsNode, ap, func(_ int, an *yaml.Node, ip string) {
				if a, ok := b.action(an, ip, env); ok {
					r.Actions = append(r.Actions, a)
				}
			})
			if a := deref(actionsNode); a.Kind == yaml.SequenceNode && len(a.Content) == 0 {
				b.fail(actionsNode, ap, "must list at least one action")
			}
		}
		b.m.rules = append(b.m.rules, r)
	})
}

func hasKey(n *yaml.Node, key string) bool {
	n = deref(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == key {
			return true
		}
	}
	return false
}

// action reads one action. env is nil when the rule's event kind is unknown; expressions are
// then not compiled (the kind error is already reported).
func (b *builder) action(n *yaml.Node, path string, env *cel.Env) (ActionSpec, bool) {
	var a ActionSpec
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		b.fail(n, path, "must be a mapping with a type, not %s", kindName(n))
		return a, false
	}
	t, ok := b.actionType(n, path)
	if !ok {
		return a, false
	}
	a.Type = t
	if a.Type == "" {
		b.fail(n, path, "type is required (%s)", strings.Join(actionTypes, ", "))
		return a, false
	}
	before := len(b.errs)
	if a.Type == ActionCreateTask {
		a.DueInDays = 1 // due tomorrow unless the document says otherwise
	}
	exprs := b.readActionKeys(n, path, &a)
	if len(b.errs) > before {
		return a, false
	}
	b.checkActionKeys(n, path, a.Type)
	if len(b.errs) > before || env == nil {
		return a, len(b.errs) == before
	}
	b.compileActionExprs(path, env, &a, exprs)
	return a, len(b.errs) == before
}

// actionType reads the action's type ("" when it has none); ok is false when it is invalid.
func (b *builder) actionType(n *yaml.Node, path string) (t ActionType, ok bool) {
	// The type decides which other keys are allowed, so read it first.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == "type" {
			v := deref(n.Content[i+1])
			s, ok := b.str(v, joinPath(path, "type"))
			if !ok {
				return "", false
			}
			if !contains(actionTypes, s) {
				b.fail(v, joinPath(path, "type"), "unknown action type %q%s", s, hint(s, actionTypes))
				return "", false
			}
			t = ActionType(s)
		}
	}
	return t, true
}

// readActionKeys reads the keys the action's type allows into a; it returns the nodes of the
// *_expr keys it read, to compile once the whole action checks out.
func (b *builder) readActionKeys(n *yaml.Node, path string, a *ActionSpec) map[string]*yaml.Node {
	exprs := map[string]*yaml.Node{}
	b.mapping(n, path, actionKeys(a.Type), func(key string, _, v *yaml.Node) {
		kp := joinPath(path, key)
		switch key {
		case "label":
			a.Label, _ = b.label(v, kp)
		case "title":
			a.Title, _ = b.str(v, kp)
		case "body":
			a.Body, _ = b.str(v, kp)
		case "label_expr", "title_expr", "body_expr":
			if s, ok := b.str(v, kp); ok {
				exprs[key] = v
				switch key {
				case "label_expr":
					a.LabelExpr = s
				case "title_expr":
					a.TitleExpr = s
				case "body_expr":
					a.BodyExpr = s
				}
			}
		case "due_in_days":
			a.DueInDays, _ = b.integer(v, kp, 0, 3650)
		case "created_by":
			if s, ok := b.str(v, kp); ok {
				a.CreatedBy = s
				b.createdBy = append(b.createdBy, pendingRef{rule: s, node: v, path: kp})
			}
		case "points":
			a.Points, _ = b.integer(v, kp, 0, 100_000)
		}
	})
	return exprs
}

// checkActionKeys checks which keys the type requires, and that a value and its _expr
// form are not both given.
func (b *builder) checkActionKeys(n *yaml.Node, path string, t ActionType) {
	exactlyOne := func(what string, required bool) {
		switch {
		case hasKey(n, what) && hasKey(n, what+"_expr"):
			b.fail(n, path, "give %s or %s_expr, not both", what, what)
		case required && !hasKey(n, what) && !hasKey(n, what+"_expr"):
			b.fail(n, path, "%s (or %s_expr) is required", what, what)
		}
	}
	switch {
	case t == ActionCreateTask:
		exactlyOne("title", true)
		exactlyOne("body", false)
	case t == ActionCompleteTask:
		exactlyOne("title", false)
		if !hasKey(n, "title") && !hasKey(n, "title_expr") && !hasKey(n, "created_by") {
			b.fail(n, path, "give title (or title_expr) and/or created_by to say which tasks to complete")
		}
	case t.labelled():
		exactlyOne("label", true)
	}
}

// compileActionExprs compiles the action's CEL expressions into a.
func (b *builder) compileActionExprs(path string, env *cel.Env, a *ActionSpec, exprs map[string]*yaml.Node) {
	for _, e := range []struct {
		key string
		src string
		dst *cel.Program
	}{{"label_expr", a.LabelExpr, &a.label}, {"title_expr", a.TitleExpr, &a.title}, {"body_expr", a.BodyExpr, &a.body}} {
		if exprs[e.key] == nil {
			continue
		}
		prg, err := compileExpr(env, e.src, cel.StringType)
		if err != nil {
			b.fail(exprs[e.key], joinPath(path, e.key), "%v", err)
			continue
		}
		*e.dst = prg
	}
}
