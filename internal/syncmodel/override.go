package syncmodel

import (
	"fmt"
	"strings"
)

// DeletePolicies lists the delete policies a mapping or a connection setting may name.
func DeletePolicies() []string { return append([]string(nil), deletePolicies...) }

// ValidRegion reports whether s is a phone region (ISO 3166 two-letter code) phones parse in.
func ValidRegion(s string) bool { return validRegion(strings.ToUpper(s)) }

// WithOverrides returns a copy of m with the phone region and the delete policy replaced
// where they are not empty: a connection's settings take precedence over its mapping.
func (m *Mapping) WithOverrides(region string, policy DeletePolicy) (*Mapping, error) {
	if region == "" && policy == "" {
		return m, nil
	}
	out := *m
	if region != "" {
		r := strings.ToUpper(region)
		if !validRegion(r) {
			return nil, fmt.Errorf("unknown phone region %q: want an ISO 3166 two-letter code such as US, GB or DE", region)
		}
		out.region = r
	}
	if policy != "" {
		if !contains(deletePolicies, string(policy)) {
			return nil, fmt.Errorf("unknown delete policy %q: want one of %s", policy, strings.Join(deletePolicies, ", "))
		}
		out.deletePolicy = policy
	}
	return &out, nil
}
