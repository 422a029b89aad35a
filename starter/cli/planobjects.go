package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// objectPlanView is what a dry run shows of one child's plan (tags, notes or tasks).
type objectPlanView struct {
	Object  string                     `json:"object"`
	Summary string                     `json:"summary"`
	Changed bool                       `json:"changed"`
	Tags    *activities.TagPlan        `json:"tags,omitempty"`
	Digest  *activities.ProjectionPlan `json:"digest,omitempty"`
}

// ruleActionView is one rule action a pass would run, with the plan it comes from.
type ruleActionView struct {
	From   string `json:"from"` // contact, tags, notes or tasks
	Rule   string `json:"rule"`
	Type   string `json:"type"`
	Key    string `json:"key"`
	Detail string `json:"detail,omitempty"`
}

// planObjects runs the tags, notes and tasks children's planning activities in dry-run mode,
// exactly as a pass would plan them, and collects their rule actions.
func planObjects(ctx context.Context, core activities.Core, in domain.PlanInput) ([]objectPlanView, []ruleActionView, error) {
	o := &activities.Objects{Core: core}
	planners := []struct {
		object string
		plan   func(context.Context, domain.PlanInput) (activities.ObjectPlan, error)
	}{{activities.ObjTags, o.PlanTags}, {activities.ObjNotes, o.PlanNotes}, {activities.ObjTasks, o.PlanTasks}}
	var views []objectPlanView
	var actions []ruleActionView
	for _, p := range planners {
		op, err := p.plan(ctx, in)
		if err != nil {
			return nil, nil, fmt.Errorf("plan %s: %w", p.object, err)
		}
		v := objectPlanView{Object: p.object, Summary: op.Summary, Changed: op.Changed}
		var acts []syncmodel.Action
		if len(op.Plan) > 0 {
			var err error
			if p.object == activities.ObjTags {
				v.Tags = new(activities.TagPlan)
				err = json.Unmarshal(op.Plan, v.Tags)
				acts = v.Tags.Actions
			} else {
				v.Digest = new(activities.ProjectionPlan)
				err = json.Unmarshal(op.Plan, v.Digest)
				acts = v.Digest.Actions
			}
			if err != nil {
				return nil, nil, fmt.Errorf("decode %s plan: %w", p.object, err)
			}
		}
		views = append(views, v)
		actions = append(actions, actionViews(p.object, acts)...)
	}
	return views, actions, nil
}

// actionViews describes rule actions for display.
func actionViews(from string, acts []syncmodel.Action) []ruleActionView {
	out := make([]ruleActionView, 0, len(acts))
	for _, a := range acts {
		var detail []string
		for _, kv := range [][2]string{{"title", a.Title}, {"label", a.Label}, {"task", a.TaskID}} {
			if kv[1] != "" {
				detail = append(detail, fmt.Sprintf("%s %q", kv[0], kv[1]))
			}
		}
		if a.Points != 0 {
			detail = append(detail, fmt.Sprintf("points %d", a.Points))
		}
		out = append(out, ruleActionView{From: from, Rule: a.Rule, Type: string(a.Type), Key: a.Key, Detail: strings.Join(detail, ", ")})
	}
	return out
}

// contactActions decodes the contact plan's rule actions.
func contactActions(raw json.RawMessage) ([]ruleActionView, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var acts []syncmodel.Action
	if err := json.Unmarshal(raw, &acts); err != nil {
		return nil, fmt.Errorf("decode contact rule actions: %w", err)
	}
	return actionViews("contact", acts), nil
}

// writeObjectPlans prints the tags, notes and tasks plans and every rule action.
func writeObjectPlans(w io.Writer, views []objectPlanView, actions []ruleActionView) {
	for _, v := range views {
		switch {
		case v.Tags != nil && v.Changed:
			fmt.Fprintf(w, "tags: %s\n", v.Summary)
		case v.Digest != nil && v.Changed:
			fmt.Fprintf(w, "%s digest: rewrite Referrizer field %q (%d characters)%s\n", v.Object, v.Digest.Field, len([]rune(v.Digest.Text)), labelDelta(*v.Digest))
		default:
			fmt.Fprintf(w, "%s: no change (%s)\n", v.Object, v.Summary)
		}
	}
	if len(actions) == 0 {
		fmt.Fprintln(w, "rule actions: none")
		return
	}
	fmt.Fprintln(w, "rule actions:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FROM\tRULE\tACTION\tDETAIL")
	for _, a := range actions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.From, a.Rule, a.Type, orDash(a.Detail))
	}
	_ = tw.Flush()
}

func labelDelta(p activities.ProjectionPlan) string {
	var parts []string
	for _, l := range p.AddLabels {
		parts = append(parts, "+"+l)
	}
	for _, l := range p.RemoveLabel {
		parts = append(parts, "-"+l)
	}
	if len(parts) == 0 {
		return ""
	}
	return "; status labels " + strings.Join(parts, " ")
}
