package rules

import (
	"fmt"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// customRule is a tenant's CEL rule, compiled.
type customRule struct {
	code, applies, field, message string
	severity                      Severity
}

// compileCustom compiles a tenant's CEL rules.
// TODO(cel): compile with cel-go; until then tenant rules are refused.
func compileCustom(code string, rs []tenant.CustomRule) ([]*customRule, error) {
	if len(rs) > 0 {
		return nil, fmt.Errorf("custom rules are not supported yet")
	}
	return nil, nil
}

// holds evaluates the rule on an entity of its kind.
func (r *customRule) holds(any) bool { return true }

func (r *customRule) violation() internalv1.Violation {
	s := internalv1.SeverityError
	if r.severity == Warning {
		s = internalv1.SeverityWarning
	}
	text := r.message
	if r.field != "" {
		text = r.field + ": " + text
	}
	return internalv1.Violation{Rule: r.code, Field: r.field, Message: text, Severity: s}
}
