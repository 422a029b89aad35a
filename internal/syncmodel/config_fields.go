package syncmodel

import (
	"strings"

	"github.com/google/cel-go/cel"
	"gopkg.in/yaml.v3"
)

// fieldReader accumulates one field rule while its keys are read.
type fieldReader struct {
	f         FieldRule
	ok        bool
	hasDir    bool
	transform *yaml.Node
}

// fieldSpec reads one field's rule: a mapping, or just its direction ("email: both").
func (b *builder) fieldSpec(name string, n *yaml.Node, path string) (FieldRule, bool) {
	fr := &fieldReader{f: FieldRule{Name: name}, ok: true}
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		fr.f.Direction, fr.ok = b.direction(n, path)
		fr.hasDir = true
	} else if !b.mapping(n, path, fieldKeys, func(key string, _, v *yaml.Node) {
		b.fieldKey(fr, key, v, joinPath(path, key))
	}) {
		return fr.f, false
	}
	return b.fieldDone(fr, n, path)
}

// fieldKey reads one key of a field rule (shared by fields and custom_fields).
func (b *builder) fieldKey(fr *fieldReader, key string, v *yaml.Node, kp string) {
	switch key {
	case "direction":
		d, good := b.direction(v, kp)
		fr.f.Direction, fr.hasDir, fr.ok = d, true, fr.ok && good
	case "conflict":
		s, good := b.str(v, kp)
		switch {
		case !good:
			fr.ok = false
		case fr.f.Name == FieldTags:
			b.fail(v, kp, "does not apply to tags: tags merge as sets, adds and removes both move")
			fr.ok = false
		case !contains(conflictNames, s):
			b.fail(v, kp, "unknown conflict policy %q%s", s, hint(s, conflictNames))
			fr.ok = false
		default:
			fr.f.Conflict = ConflictPolicy(s)
		}
	case "transform":
		if s, good := b.str(v, kp); good {
			fr.f.Transform, fr.transform = s, v
		} else {
			fr.ok = false
		}
	case "exclude":
		if fr.f.Name != FieldTags {
			b.fail(v, kp, "applies only to tags")
			fr.ok = false
			return
		}
		b.list(v, kp, func(_ int, item *yaml.Node, ip string) {
			s, good := b.label(item, ip)
			if good && strings.Contains(strings.TrimSuffix(s, "*"), "*") {
				b.fail(item, ip, "%q: * is only allowed at the end (a prefix pattern)", s)
				good = false
			}
			if good {
				fr.f.Exclude = append(fr.f.Exclude, s)
			}
			fr.ok = fr.ok && good
		})
	}
}

// fieldDone checks the rule as a whole and compiles its transform.
func (b *builder) fieldDone(fr *fieldReader, n *yaml.Node, path string) (FieldRule, bool) {
	f := fr.f
	if !fr.hasDir {
		b.fail(n, path, "direction is required (ghl->rz, rz->ghl or both)")
		return f, false
	}
	if !fr.ok {
		return f, false
	}
	if f.Conflict != "" && f.Direction != Both {
		b.fail(n, joinPath(path, "conflict"), "applies only to both-way fields, and this one is %s", f.Direction)
		return f, false
	}
	if fr.transform != nil && !b.compileTransform(&f, fr.transform, joinPath(path, "transform")) {
		return f, false
	}
	if f.Direction == Both && f.Conflict == "" && f.Name != FieldTags {
		f.Conflict = GHLWins
	}
	return f, true
}

func (b *builder) direction(n *yaml.Node, path string) (Direction, bool) {
	s, ok := b.str(n, path)
	if !ok {
		return "", false
	}
	d, ok := parseDirection(s)
	if !ok {
		b.fail(n, path, "unknown direction %q%s", s, hint(s, directionSpells))
	}
	return d, ok
}

func (b *builder) compileTransform(f *FieldRule, n *yaml.Node, path string) bool {
	switch {
	case f.Name == FieldTags || f.Name == FieldDND:
		b.fail(n, path, "applies only to text fields, not %s", f.Name)
		return false
	case f.Direction == Both:
		b.fail(n, path, "needs a one-way direction (ghl->rz or rz->ghl): a both-way field would need an exact inverse to stay in sync")
		return false
	}
	e, err := envs()
	if err != nil {
		b.fail(n, path, "%v", err)
		return false
	}
	prg, err := compileExpr(e.transform, f.Transform, cel.StringType)
	if err != nil {
		b.fail(n, path, "%v", err)
		return false
	}
	f.prg = prg
	return true
}

func (b *builder) customFields(n *yaml.Node, path string) []FieldRule {
	var out []FieldRule
	keys, ghlIDs := map[string]bool{}, map[string]bool{}
	b.rzNames = map[string]*yaml.Node{}
	b.list(n, path, func(_ int, item *yaml.Node, ip string) {
		var c CustomField
		var keyNode, ghlNode, rzNode *yaml.Node
		fr := &fieldReader{f: FieldRule{Name: CustomPrefix}, ok: true}
		if !b.mapping(item, ip, customKeys, func(key string, _, v *yaml.Node) {
			kp := joinPath(ip, key)
			switch key {
			case "key":
				c.Key, _ = b.str(v, kp)
				keyNode = v
			case "ghl":
				c.GHLID, _ = b.str(v, kp)
				ghlNode = v
			case "rz":
				c.RZName, _ = b.str(v, kp)
				rzNode = v
			default:
				b.fieldKey(fr, key, v, kp)
			}
		}) {
			return
		}
		if ghlNode == nil {
			b.fail(item, ip, "ghl (the HighLevel custom field id) is required")
		}
		if rzNode == nil {
			b.fail(item, ip, "rz (the Referrizer custom field name) is required")
		}
		if c.GHLID == "" || c.RZName == "" || (keyNode != nil && c.Key == "") {
			return
		}
		if c.Key == "" {
			c.Key, keyNode = c.RZName, rzNode
		}
		switch {
		case keys[c.Key]:
			b.fail(keyNode, joinPath(ip, "key"), "custom field key %q is used twice", c.Key)
			return
		case ghlIDs[c.GHLID]:
			b.fail(ghlNode, joinPath(ip, "ghl"), "HighLevel custom field %q is mapped twice", c.GHLID)
			return
		case b.rzNames[strings.ToLower(c.RZName)] != nil:
			b.fail(rzNode, joinPath(ip, "rz"), "Referrizer custom field %q is mapped twice", c.RZName)
			return
		}
		keys[c.Key], ghlIDs[c.GHLID], b.rzNames[strings.ToLower(c.RZName)] = true, true, rzNode
		fr.f.Name = CustomPrefix + c.Key
		if f, ok := b.fieldDone(fr, item, ip); ok {
			out = append(out, f)
			b.m.custom = append(b.m.custom, c)
		}
	})
	return out
}
