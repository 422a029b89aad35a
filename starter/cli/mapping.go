package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

func (a *app) mappingCmd() *cobra.Command {
	validate := &cobra.Command{
		Use:   "validate <file>",
		Short: "Check a mapping document (YAML or JSON; - for stdin); problems are listed with line and key",
		Long: `validate parses a mapping document the way the worker does and lists every problem with its
line and key path, e.g. "mapping.yaml:3: fields.email.conflict: …". Exit 5 when it is invalid.`,
		Args: exactArgs("<file>"),
		RunE: func(_ *cobra.Command, args []string) error {
			_, _, err := a.loadMapping(args[0])
			return err
		},
	}
	var showDefault bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the connection's mapping document, or the default mapping when it has none",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			doc, isDefault, connID := syncmodel.DefaultMappingYAML, true, ""
			if !showDefault {
				c, err := a.connection()
				if err != nil {
					return err
				}
				connID = c.ID
				if len(c.Mapping) > 0 {
					doc, isDefault = string(c.Mapping), false
				}
			}
			if a.json() {
				a.printJSON(struct {
					Connection string `json:"connection,omitempty"`
					Default    bool   `json:"default"`
					Mapping    string `json:"mapping"`
				}{connID, isDefault, doc})
				return nil
			}
			a.printf("%s", doc)
			if !strings.HasSuffix(doc, "\n") {
				a.printf("\n")
			}
			return nil
		},
	}
	show.Flags().BoolVar(&showDefault, "default", false, "print the built-in default mapping")
	set := &cobra.Command{
		Use:   "set <file>",
		Short: "Validate a mapping document and store it on the connection (the worker uses it within seconds)",
		Args:  exactArgs("<file>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connection()
			if err != nil {
				return err
			}
			doc, m, err := a.loadMappingQuiet(args[0])
			if err != nil {
				return err
			}
			st, err := a.store()
			if err != nil {
				return err
			}
			c.Mapping = doc
			if _, err := st.PutConnection(cmd.Context(), c); err != nil {
				return fmt.Errorf("save mapping of %s: %w", c.ID, err)
			}
			if a.json() {
				a.printJSON(struct {
					Connection string         `json:"connection"`
					Saved      bool           `json:"saved"`
					Summary    mappingSummary `json:"summary"`
				}{c.ID, true, summarize(m)})
				return nil
			}
			a.printf("mapping of connection %s saved (%s); the worker picks it up within seconds\n", c.ID, summarize(m))
			return nil
		},
	}
	return group("mapping", "Validate, show and set a connection's field mapping", validate, show, set)
}

type mappingSummary struct {
	Fields       int    `json:"fields"`
	CustomFields int    `json:"customFields"`
	Rules        int    `json:"rules"`
	DeletePolicy string `json:"deletePolicy"`
}

func (s mappingSummary) String() string {
	return fmt.Sprintf("%d fields, %d custom fields, %d rules, delete policy %s", s.Fields, s.CustomFields, s.Rules, s.DeletePolicy)
}

func summarize(m *syncmodel.Mapping) mappingSummary {
	return mappingSummary{Fields: len(m.Fields()), CustomFields: len(m.CustomFields()), Rules: len(m.Rules()), DeletePolicy: string(m.DeletePolicy())}
}

// mappingProblem is one problem of an invalid document, as printed.
type mappingProblem = onboard.Problem

// loadMapping reads and parses a document, reporting the result (valid or every problem).
func (a *app) loadMapping(name string) ([]byte, *syncmodel.Mapping, error) {
	doc, m, problems, err := a.parseMappingFile(name)
	if err != nil {
		return nil, nil, err
	}
	if a.json() {
		out := struct {
			File     string           `json:"file"`
			Valid    bool             `json:"valid"`
			Summary  *mappingSummary  `json:"summary,omitempty"`
			Problems []mappingProblem `json:"problems,omitempty"`
		}{File: name, Valid: m != nil, Problems: problems}
		if m != nil {
			s := summarize(m)
			out.Summary = &s
		}
		a.printJSON(out)
	} else if m != nil {
		a.printf("%s: valid mapping (%s)\n", name, summarize(m))
	} else {
		for _, p := range problems {
			fmt.Fprintln(a.stderr, problemLine(name, p))
		}
	}
	if m == nil {
		return nil, nil, invalidMapping(name, problems)
	}
	return doc, m, nil
}

// loadMappingQuiet is loadMapping that prints only problems (for set).
func (a *app) loadMappingQuiet(name string) ([]byte, *syncmodel.Mapping, error) {
	doc, m, problems, err := a.parseMappingFile(name)
	if err != nil {
		return nil, nil, err
	}
	if m == nil {
		if !a.json() {
			for _, p := range problems {
				fmt.Fprintln(a.stderr, problemLine(name, p))
			}
		}
		return nil, nil, invalidMapping(name, problems)
	}
	return doc, m, nil
}

func (a *app) parseMappingFile(name string) ([]byte, *syncmodel.Mapping, []mappingProblem, error) {
	doc, err := a.readArg(name)
	if err != nil {
		return nil, nil, nil, err
	}
	m, problems := onboard.ParseMapping(doc)
	return doc, m, problems, nil
}

func problemLine(file string, p mappingProblem) string {
	var b strings.Builder
	b.WriteString(file)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

func invalidMapping(file string, problems []mappingProblem) error {
	if len(problems) == 1 {
		return invalidErr("invalid mapping: %s", problemLine(file, problems[0]))
	}
	return invalidErr("invalid mapping: %s has %d problems, first %s", file, len(problems), problemLine(file, problems[0]))
}
