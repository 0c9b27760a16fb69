package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	celref "github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/esrflow/esrflow/esr/tenant"
	"github.com/esrflow/esrflow/schemas/gen/internalv1"
)

// Tenant rules are CEL expressions (github.com/google/cel-go) over one
// canonical record, e.g.
//
//	assignment.category != "Bank" || !has(assignment.fte)
//
// How a record looks to CEL:
//
//   - The record is a variable named after its kind: person, assignment,
//     position, organisation or location (only the rule's own kind is
//     declared, so an assignment rule cannot name person). Beside it,
//     run_date is the file's header run date (a timestamp) and tenant the
//     tenant's ODS code (a string).
//   - Its fields are the canonical model's snake_case names (the avro tags
//     of internalv1.Person, Assignment, ...), each with its declared type:
//     strings (the assignment status too), ints, doubles, bools, and
//     timestamps for dates (UTC midnight) and times. assignment.position and
//     assignment.grade are objects with their own fields (position.number,
//     grade.code ...). A misspelt field or a type mismatch
//     (person.hire_date > 3) is a compile error, reported when the tenant's
//     configuration loads, never a surprise on a file.
//   - has() tests presence: an optional field (fte, hours, the dates that
//     may be null) is present when it has a value, 0 and 0.0 included; any
//     other field when it is not its zero value ("" for the strings that are
//     empty when absent, 0 for the ids that are 0 when absent). A date
//     before 1800 (the zero time, or year 1 after an Avro round trip) is no
//     date, as the record rules judge it.
//   - Reading an optional field that is absent is an evaluation error, not a
//     zero: assignment.fte <= 1.0 cannot pass a record with no FTE by
//     accident. Guard it with has() when absence is fine.
//
// The expression holds (the record is good) when it evaluates to true;
// false, or any evaluation error (an absent field read, an overflow, a
// division by zero), is a violation of the rule. A rule must type-check to
// bool, and may only read a record's fields: a record (or assignment.grade)
// used whole, or built in the expression, is refused at compile.
//
// Each kind's environment is built once per process; a rule's program is
// compiled once when the tenant's rule set is, and is safe for concurrent
// use. Evaluating one builds no environment and no map per record: the
// activation is a small struct and fields are read from the record as it
// is (BenchmarkCELHolds: well under a microsecond for the example above).

// customRule is a tenant's CEL rule, compiled.
type customRule struct {
	code, applies, field, message string
	severity                      Severity
	tenant                        string
	expr                          string
	program                       cel.Program
}

// compileCustom validates and compiles a tenant's CEL rules. Its errors name
// the rule and, for an expression that does not compile, the line and
// column of each problem; the caller names the tenant.
func compileCustom(tenantCode string, rs []tenant.CustomRule) ([]*customRule, error) {
	out := make([]*customRule, 0, len(rs))
	seen := map[string]bool{}
	for i, r := range rs {
		who := fmt.Sprintf("custom rule %s", r.Code)
		if r.Code == "" {
			who = fmt.Sprintf("custom rule #%d", i+1)
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s: %s", who, fmt.Sprintf(format, args...))
		}
		switch {
		case strings.TrimSpace(r.Code) == "":
			return nil, fail("code is required")
		case strings.ContainsFunc(r.Code, unicode.IsSpace):
			return nil, fail("code must not contain spaces")
		case strings.HasPrefix(strings.ToUpper(r.Code), "ESR-"):
			return nil, fail("ESR- codes belong to the catalogue; give the tenant's rule its own code (e.g. %s-001)", tenantOr(tenantCode))
		case seen[r.Code]:
			return nil, fail("code is used by another custom rule of the tenant")
		}
		seen[r.Code] = true
		kind, ok := celKinds()[r.Applies]
		if !ok {
			return nil, fail("applies %q must be one of %s", r.Applies, strings.Join(RecordKinds, ", "))
		}
		sev := Error
		if r.Severity != "" {
			sev = Severity(strings.ToLower(r.Severity))
			if sev != Error && sev != Warning {
				return nil, fail("severity %q must be error or warning", r.Severity)
			}
		}
		switch {
		case strings.TrimSpace(r.Description) == "":
			return nil, fail("description is required")
		case strings.TrimSpace(r.Message) == "":
			return nil, fail("message is required")
		case strings.TrimSpace(r.Expr) == "":
			return nil, fail("expr is required")
		}
		if r.Field != "" && !kind.hasPath(r.Field) {
			return nil, fail("field %q is not a field of %s", r.Field, r.Applies)
		}
		prg, err := kind.compile(r.Expr)
		if err != nil {
			if _, positioned := err.(celIssues); positioned {
				return nil, fail("expr %v", err) // expr 1:12: undeclared reference ...
			}
			return nil, fail("expr: %v", err)
		}
		out = append(out, &customRule{
			code: r.Code, applies: r.Applies, field: r.Field, message: r.Message,
			severity: sev, tenant: tenantCode, expr: r.Expr, program: prg,
		})
	}
	return out, nil
}

func tenantOr(code string) string {
	if code == "" {
		return "RXX"
	}
	return code
}

// holds evaluates the rule on an entity of its kind, from a file: true when
// the record is good. False and evaluation errors are violations.
func (r *customRule) holds(entity any, file internalv1.FileInfo) bool {
	out, _, err := r.program.Eval(&celVars{kind: r.applies, record: entity, runDate: file.RunDate.UTC(), tenant: r.tenant})
	if err != nil {
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}

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

// celVars is the activation of one evaluation: the record under its kind's
// name, the file's run date and the tenant. A struct rather than a map so
// that evaluating a rule allocates next to nothing.
type celVars struct {
	kind    string
	record  any
	runDate time.Time
	tenant  string
}

func (a *celVars) ResolveName(name string) (any, bool) {
	switch name {
	case a.kind:
		return a.record, true
	case "run_date":
		return a.runDate, true
	case "tenant":
		return a.tenant, true
	}
	return nil, false
}

func (a *celVars) Parent() interpreter.Activation { return nil }

// celKind is the CEL environment of one record kind.
type celKind struct {
	name string
	root *celObject
	env  *cel.Env
}

// compile parses and type-checks an expression and plans its program. The
// error lists each problem as line:column: message.
func (k *celKind) compile(expr string) (cel.Program, error) {
	ast, iss := k.env.Compile(expr)
	if iss.Err() != nil {
		parts := make([]string, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			// cel counts columns from 0; people and editors from 1.
			parts = append(parts, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, celIssues(strings.Join(parts, "; "))
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, fmt.Errorf("must be a bool expression (true for a good record), not %s", t)
	}
	if err := k.readsFieldsOnly(ast.NativeRep()); err != nil {
		return nil, err
	}
	prg, err := k.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return prg, nil
}

// readsFieldsOnly refuses what type-checks but could never evaluate: a
// record (or a nested object such as assignment.grade) used whole rather
// than through one of its fields, and a record built in the expression.
// Either would fail on every record at evaluation; better to say so when the
// configuration loads.
func (k *celKind) readsFieldsOnly(a *celast.AST) error {
	var parts []string
	at := func(e celast.NavigableExpr, format string, args ...any) {
		l := a.SourceInfo().GetStartLocation(e.ID())
		parts = append(parts, fmt.Sprintf("%d:%d: %s", l.Line(), l.Column()+1, fmt.Sprintf(format, args...)))
	}
	for _, e := range celast.MatchDescendants(celast.NavigateAST(a), celast.AllMatcher()) {
		if e.Kind() == celast.StructKind {
			at(e, "records are read in a rule, never built")
			continue
		}
		if e.Type().Kind() != types.StructKind {
			continue
		}
		if p, ok := e.Parent(); ok && p.Kind() == celast.SelectKind && p.AsSelect().Operand().ID() == e.ID() {
			continue // a field of it is read, or tested with has()
		}
		at(e, "%s is a record: a rule reads its fields (e.g. %s.%s)", e.Type(), k.name, k.root.names[0])
	}
	if len(parts) > 0 {
		return celIssues(strings.Join(parts, "; "))
	}
	return nil
}

// celIssues are a compile's problems, each line:column: message.
type celIssues string

func (e celIssues) Error() string { return string(e) }

// hasPath reports whether a dotted field path names a field of the kind.
func (k *celKind) hasPath(path string) bool {
	o := k.root
	names := strings.Split(path, ".")
	for i, n := range names {
		f, ok := o.fields[n]
		if !ok {
			return false
		}
		if i < len(names)-1 {
			if f.object == nil {
				return false
			}
			o = f.object
		}
	}
	return true
}

var (
	celOnce    sync.Once
	celByKind  map[string]*celKind
	celInitErr error
)

// celKinds builds the five environments once.
func celKinds() map[string]*celKind {
	celOnce.Do(func() {
		celByKind, celInitErr = newCELKinds()
	})
	if celInitErr != nil {
		panic("rules: the CEL environments do not build: " + celInitErr.Error())
	}
	return celByKind
}

func newCELKinds() (map[string]*celKind, error) {
	p := &celProvider{objects: map[string]*celObject{}}
	base, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p.Provider = base
	roots := map[string]reflect.Type{
		KindPerson:       reflect.TypeFor[internalv1.Person](),
		KindAssignment:   reflect.TypeFor[internalv1.Assignment](),
		KindPosition:     reflect.TypeFor[internalv1.Position](),
		KindOrganisation: reflect.TypeFor[internalv1.Organisation](),
		KindLocation:     reflect.TypeFor[internalv1.Location](),
	}
	out := map[string]*celKind{}
	for _, kind := range RecordKinds {
		root, err := p.object(roots[kind])
		if err != nil {
			return nil, err
		}
		env, err := cel.NewEnv(
			cel.CustomTypeProvider(p),
			cel.Variable(kind, root.typ),
			cel.Variable("run_date", cel.TimestampType),
			cel.Variable("tenant", cel.StringType),
			ext.Strings(),
		)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		out[kind] = &celKind{name: kind, root: root, env: env}
	}
	return out, nil
}

// celProvider declares the canonical record types to CEL's type checker
// and reads their fields at evaluation, straight from the Go structs (no
// copy into a map per record). Other types go to the standard registry.
type celProvider struct {
	types.Provider
	objects map[string]*celObject // by CEL type name
}

// celObject is a Go struct of the canonical model as a CEL object type.
type celObject struct {
	typ    *types.Type
	fields map[string]*celField // by avro (snake_case) name
	names  []string
}

// celField is one field: its CEL type, where it is in the struct, and how
// presence is judged.
type celField struct {
	name     string
	typ      *types.Type
	index    int
	optional bool       // a pointer: absent when nil, and reading it then is an error
	object   *celObject // for a nested struct (assignment.position, .grade)
	ft       *types.FieldType
}

// celTypeName is the CEL name of a model struct, e.g. esr.Assignment.
func celTypeName(t reflect.Type) string { return "esr." + t.Name() }

var timeType = reflect.TypeFor[time.Time]()

func (p *celProvider) object(t reflect.Type) (*celObject, error) {
	name := celTypeName(t)
	if o, ok := p.objects[name]; ok {
		return o, nil
	}
	o := &celObject{typ: types.NewObjectType(name), fields: map[string]*celField{}}
	p.objects[name] = o
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("avro"), ",")
		if !sf.IsExported() || tag == "" || tag == "-" {
			continue
		}
		f := &celField{name: tag, index: i}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.optional = true
			ft = ft.Elem()
		}
		switch {
		case ft == timeType:
			f.typ = types.TimestampType
		case ft.Kind() == reflect.String:
			f.typ = types.StringType
		case ft.Kind() == reflect.Bool:
			f.typ = types.BoolType
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			f.typ = types.IntType
		case ft.Kind() == reflect.Float32 || ft.Kind() == reflect.Float64:
			f.typ = types.DoubleType
		case ft.Kind() == reflect.Struct:
			nested, err := p.object(ft)
			if err != nil {
				return nil, err
			}
			f.object, f.typ = nested, nested.typ
		default:
			// Nothing in the canonical records is a list or a map today; a
			// new field of such a type must be declared here deliberately.
			return nil, fmt.Errorf("%s.%s: Go type %s has no CEL mapping", name, tag, sf.Type)
		}
		f.ft = &types.FieldType{Type: f.typ, IsSet: f.isSet, GetFrom: f.getFrom}
		o.fields[tag] = f
		o.names = append(o.names, tag)
	}
	return o, nil
}

// field reads the field's reflect.Value from a record (a struct or a
// pointer to one).
func (f *celField) field(obj any) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || f.index >= v.NumField() {
		return reflect.Value{}, false
	}
	return v.Field(f.index), true
}

func (f *celField) isSet(obj any) bool {
	v, ok := f.field(obj)
	if !ok {
		return false
	}
	if f.optional {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if f.typ == types.TimestampType {
		// As the record rules judge dates: the zero time, or a day in year
		// 1 after an Avro round trip, is no date.
		return !noDate(v.Interface().(time.Time))
	}
	return f.optional || !v.IsZero()
}

func (f *celField) getFrom(obj any) (any, error) {
	v, ok := f.field(obj)
	if !ok {
		return nil, fmt.Errorf("no field %s on %T", f.name, obj)
	}
	if f.optional {
		if v.IsNil() || (f.typ == types.TimestampType && noDate(v.Elem().Interface().(time.Time))) {
			// Says which field, never a value.
			return nil, fmt.Errorf("field %s is absent (guard it with has())", f.name)
		}
		v = v.Elem()
	}
	switch f.typ {
	case types.StringType:
		return v.String(), nil // a named string type (AssignmentStatus) as a plain string
	case types.IntType:
		return v.Int(), nil
	case types.DoubleType:
		return v.Float(), nil
	case types.BoolType:
		return v.Bool(), nil
	case types.TimestampType:
		return v.Interface().(time.Time).UTC(), nil
	}
	return v.Interface(), nil // a nested struct, qualified further by its own fields
}

// FindStructType implements types.Provider.
func (p *celProvider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.typ), true
	}
	return p.Provider.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *celProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return slices.Clone(o.names), true
	}
	return p.Provider.FindStructFieldNames(name)
}

// FindStructFieldType implements types.Provider.
func (p *celProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		f, ok := o.fields[field]
		if !ok {
			return nil, false
		}
		return f.ft, true
	}
	return p.Provider.FindStructFieldType(name, field)
}

// NewValue implements types.Provider: records are read, never built, in a
// rule.
func (p *celProvider) NewValue(name string, fields map[string]celref.Val) celref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("%s cannot be constructed in a rule", name)
	}
	return p.Provider.NewValue(name, fields)
}

// CELField is one field a tenant rule can read, for the docs and
// `esrflow rules`: its path under the record variable (grade.code for a
// nested one), its CEL type, and whether it is optional (absent unless
// has() says otherwise; reading it absent is a violation).
type CELField struct {
	Path     string
	Type     string
	Optional bool
}

// CELFields lists the fields of a record kind as tenant rules see them, in
// the canonical model's order; nil for an unknown kind.
func CELFields(kind string) []CELField {
	k, ok := celKinds()[kind]
	if !ok {
		return nil
	}
	var out []CELField
	var walk func(o *celObject, prefix string)
	walk = func(o *celObject, prefix string) {
		for _, n := range o.names {
			f := o.fields[n]
			if f.object != nil {
				walk(f.object, prefix+n+".")
				continue
			}
			typ := f.typ.String()
			if f.typ == types.TimestampType {
				typ = "timestamp" // as CEL's timestamp() names it, not its proto name
			}
			out = append(out, CELField{Path: prefix + n, Type: typ, Optional: f.optional})
		}
	}
	walk(k.root, "")
	return out
}

// CELVariables are the variables every tenant rule may use beside its
// record, with their CEL types.
func CELVariables() map[string]string {
	return map[string]string{"run_date": "timestamp", "tenant": "string"}
}
