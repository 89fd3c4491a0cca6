package resources

// Decoders of Microsoft.Authorization resources: management locks on
// resource groups, and policy assignments at a resource group or at the
// subscription.

import (
	"strings"

	"securetrain/internal/arm"
)

func decodeLock(r *res) *ManagementLock {
	p := r.props
	p.ignore("owners")
	return &ManagementLock{Meta: r.meta(), Level: p.enum("level", true, LockCanNotDelete, LockReadOnly), Notes: p.str("notes")}
}

// decodePolicyAssignment reads an assignment. Its scope is its resource
// group, or the subscription when the envelope has none (see
// res.resourceGroup); the id of a subscription-scoped assignment has no
// resource group. Parameters are checked for the built-in "Not allowed
// resource types" definition only: the others are not evaluated.
func decodePolicyAssignment(r *res) *PolicyAssignment {
	p := r.props
	// scope is what Azure returns on GET; the envelope says it already.
	p.ignore("description", "metadata", "nonComplianceMessages", "scope")
	a := &PolicyAssignment{Meta: r.meta(),
		Scope:             arm.ID{Subscription: r.id.Subscription, ResourceGroup: r.id.ResourceGroup},
		SubscriptionScope: r.id.ResourceGroup == "",
		DisplayName:       p.str("displayName"),
		Enforced:          p.enum("enforcementMode", false, "Default", "DoNotEnforce") != "DoNotEnforce",
	}
	for _, v := range p.list("notScopes", false, false) {
		// Excluded scopes may lie outside the file.
		if ref := r.idRef(p.name("notScopes"), v, "", true); ref.IsSet() {
			a.NotScopes = append(a.NotScopes, ref.ID)
		}
	}
	params := p.child("parameters")
	if dv := p.stringField("policyDefinitionId", true); !dv.IsZero() {
		a.PolicyDefinitionID = dv.Str()
	}
	if strings.EqualFold(a.PolicyDefinitionID, DenyPropertyPolicy) {
		a.DenyProperty = denyPropertyParameters(params)
		return a
	}
	if !strings.EqualFold(a.PolicyDefinitionID, NotAllowedResourceTypesPolicy) {
		params.ignoreRest()
		return a
	}
	types := params.child("listOfResourceTypesNotAllowed")
	for _, v := range types.list("value", true, false) {
		if err := parseResourceType(v.Str()); err != nil {
			types.errf(v.Line(), "%s %v", types.name("value"), err)
			continue
		}
		a.NotAllowedTypes = append(a.NotAllowedTypes, v.Str())
	}
	// Newer versions of the definition take an effect: only Deny (the
	// default) refuses anything; Audit and Disabled let creation through.
	if effect := params.child("effect").enum("value", false, "Deny", "Audit", "Disabled"); effect == "Audit" || effect == "Disabled" {
		a.Enforced = false
	}
	return a
}

// denyPropertyParameters reads the parameters of DenyPropertyPolicy:
// resourceType, field, and equals or exists (false).
func denyPropertyParameters(params *obj) *PropertyCondition {
	c := &PropertyCondition{}
	typ := params.child("resourceType")
	if c.ResourceType = typ.needStr("value"); c.ResourceType != "" {
		if err := parseResourceType(c.ResourceType); err != nil {
			typ.errf(typ.lineOf("value"), "%s %v", typ.name("value"), err)
		}
	}
	c.Field = params.child("field").needStr("value")
	if v := params.child("equals").lookup("value"); !v.IsZero() {
		c.Equals, c.HasEquals = plain(v), true
	}
	exists := params.child("exists")
	if e := exists.optBool("value"); e != nil {
		if *e {
			exists.errf(exists.lineOf("value"), "%s true denies nothing; use false (deny when %s is absent) or equals", exists.name("value"), c.Field)
		}
		c.MustExist = !*e
	}
	if !c.HasEquals && !c.MustExist && !params.anyPresent("exists") {
		params.errf(params.lineOf("field"), "%s needs equals (deny this value) or exists false (deny when absent)", strings.TrimSuffix(params.name(""), "."))
	}
	return c
}
