package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/daihuo/daihuo/domain/errs"
)

// bodyField names the request body as a whole in field errors.
const bodyField = "body"

// bindJSON decodes the request body into dst, strictly: Content-Type must be
// application/json (else 415), the body one UTF-8 JSON value of at most
// 1 MiB (else 413) with no unknown fields; a wrong type is reported as a
// validation error on its field path, such as variants[0].stock. Every
// failure is a client error answered through writeError, never a 500,
// except a dst that is not a non-nil pointer (a programming error).
func bindJSON(c *gin.Context, dst any) error {
	if err := requireJSON(c.Request.Header.Get("Content-Type")); err != nil {
		return err
	}
	data, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeStrict(data, dst)
}

// bindOptionalJSON is bindJSON for a body that may be left out: no body at
// all leaves dst as it is; any body must be JSON like bindJSON's.
func bindOptionalJSON(c *gin.Context, dst any) error {
	data, err := readBody(c)
	if err != nil || len(data) == 0 {
		return err
	}
	if err := requireJSON(c.Request.Header.Get("Content-Type")); err != nil {
		return err
	}
	return decodeStrict(data, dst)
}

// bodiless wraps a handler of a route that takes no body: no body, or an
// empty JSON object, runs it; anything else (unknown fields, not JSON) is
// refused before it acts, so a client that meant to say something learns
// that nothing reads it.
func bodiless(h handlerFunc) handlerFunc {
	return func(c *gin.Context) error {
		if err := bindOptionalJSON(c, &struct{}{}); err != nil {
			return err
		}
		return h(c)
	}
}

// readBody reads the whole request body (nil when there is none) within the
// 1 MiB limit: over it, the *http.MaxBytesError that answers 413.
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errs.Invalid(bodyField, "could not be read")
	}
	return data, nil
}

// requireJSON accepts application/json with no charset or charset=utf-8.
func requireJSON(contentType string) error {
	unsupported := errs.New(codeUnsupportedMediaType, "the request body must be application/json")
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported
	}
	return nil
}

// decodeStrict decodes exactly one JSON value of data into dst.
func decodeStrict(data []byte, dst any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errs.Invalid(bodyField, "must not be empty")
	}
	if !utf8.Valid(data) {
		return errs.Invalid(bodyField, "must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(data, dst, err)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return errs.Invalid(bodyField, "must be a single JSON value")
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errs.Invalid(bodyField, "must not be null")
	}
	// Postgres text cannot hold U+0000, and no field of the contract needs
	// it: a string carrying one is refused here, by its path, rather than
	// failing in the database.
	if bytes.Contains(data, []byte(`\u0000`)) {
		if nul, ok := pathOf(data, dst, func(v visit) bool { return !v.key && strings.ContainsRune(v.str, 0) }); ok {
			return errs.Invalid(nul, "must not contain the NUL character")
		}
	}
	// encoding/json turns an escaped half of a UTF-16 pair that has no other
	// half (\ud800) into U+FFFD: refused, by its path, rather than stored as
	// something the client did not send.
	if at := unpairedSurrogate(data); at >= 0 {
		path, _ := pathOf(data, dst, func(v visit) bool { return v.end > int64(at) })
		return errs.Invalid(path, "must not contain an unpaired UTF-16 surrogate escape such as \\ud800")
	}
	// encoding/json lets the last of two same keys win; another reader of
	// the same body (a proxy, a log) may take the first.
	if at := duplicateKey(data); at >= 0 {
		path, _ := pathOf(data, dst, func(v visit) bool { return v.key && v.end > int64(at) })
		return errs.Invalid(path, "appears twice in its object")
	}
	// encoding/json matches keys case-insensitively ("TITLE" fills Title);
	// the contract's field names are exact, so any other spelling is unknown.
	if keysSpelledExactly(data, reflect.TypeOf(dst)) {
		return nil
	}
	if unknown, ok := pathOf(data, dst, func(v visit) bool { return v.key && v.unknown }); ok {
		return errs.Invalid(unknown, "is not a known field")
	}
	return nil
}

// pathOf returns the path of the first key or value of data that match
// picks, walking it as dst's type, or bodyField and false when none does.
func pathOf(data []byte, dst any, match func(visit) bool) (string, bool) {
	path, found := bodyField, false
	walkJSON(data, reflect.TypeOf(dst), func(v visit) bool {
		if match(v) {
			path, found = v.path, true
		}
		return found
	})
	return path, found
}

// duplicateKey returns the offset in a valid JSON document of the first
// key that repeats an earlier key of the same object, or -1. Keys are
// compared as they decode ("t\u0069tle" is "title").
func duplicateKey(data []byte) int {
	type container struct {
		object bool
		keys   map[string]bool
	}
	var open []container // the arrays and objects around the current byte
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			open = append(open, container{object: true})
		case '[':
			open = append(open, container{})
		case '}', ']':
			open = open[:len(open)-1]
		case '"':
			start := i
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if len(open) == 0 || !open[len(open)-1].object || !followedByColon(data, i+1) {
				continue // a string value
			}
			top := &open[len(open)-1]
			key := string(data[start+1 : i])
			if strings.ContainsRune(key, '\\') {
				_ = json.Unmarshal(data[start:i+1], &key) // a valid document's string decodes
			}
			if top.keys[key] {
				return start
			}
			if top.keys == nil {
				top.keys = map[string]bool{}
			}
			top.keys[key] = true
		}
	}
	return -1
}

// followedByColon reports whether the next byte at or after i that is not
// JSON whitespace is a colon: the string before i was a key.
func followedByColon(data []byte, i int) bool {
	for ; i < len(data); i++ {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
		case ':':
			return true
		default:
			return false
		}
	}
	return false
}

// unpairedSurrogate returns the offset in a valid JSON document of the
// first \u escape of a UTF-16 surrogate that is not half of a pair, or -1.
// (Raw UTF-8 cannot encode surrogates: utf8.Valid refuses them.)
func unpairedSurrogate(data []byte) int {
	if !bytes.Contains(data, []byte(`\u`)) {
		return -1
	}
	unit := func(i int) (rune, bool) { // the code unit of the \u escape at i
		if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := unit(i)
		if !ok { // another escape: skip its letter (a backslash, say)
			i++
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := unit(i + 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11 // the pair
				continue
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

// decodeError turns an encoding/json error into a field-level validation
// error on the path of the offending value.
func decodeError(data []byte, dst any, err error) error {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
		ve      *errs.ValidationError
		e       *errs.Error
	)
	switch {
	case errors.As(err, &invalid):
		return fmt.Errorf("decode request: %w", err)
	case errors.As(err, &syntax):
		return errs.Invalid(bodyField, "is not valid JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Invalid(bodyField, "is not valid JSON: it ends too early")
	case errors.As(err, &typ):
		path, _ := pathOf(data, dst, func(v visit) bool { return !v.key && v.end == typ.Offset })
		return errs.Invalid(path, "%s", typeMessage(typ))
	case errors.As(err, &ve), errors.As(err, &e):
		return err // a field type's own UnmarshalJSON speaks the domain's language.
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		path, ok := pathOf(data, dst, func(v visit) bool { return v.key && v.unknown && v.name == name })
		if !ok {
			path = name
		}
		return errs.Invalid(path, "is not a known field")
	}
	// What is left comes from a field type's UnmarshalJSON: bad client input.
	return errs.Invalid(bodyField, "has an invalid value: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// typeMessage says what a value should have been.
func typeMessage(e *json.UnmarshalTypeError) string {
	// Value is "number 1.5" for a number literal that does not fit, else the
	// JSON kind given ("string", "number" for a number where none belongs).
	literal, number := strings.CutPrefix(e.Value, "number ")
	switch e.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if number && !strings.ContainsAny(literal, ".eE") {
			return "is out of range"
		}
		return "must be an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if number && !strings.ContainsAny(literal, ".eE-") {
			return "is out of range"
		}
		return "must be a non-negative integer"
	case reflect.Float32, reflect.Float64:
		if number {
			return "is out of range"
		}
		return "must be a number"
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Slice, reflect.Array:
		return "must be an array"
	case reflect.Struct, reflect.Map:
		return "must be an object"
	}
	return "has the wrong type"
}

// keysSpelledExactly is decodeStrict's quick proof that a document it
// decoded used no field name in another spelling, which spares it the
// walk: true when every object key of data is spelled exactly like a field
// name of t's tree and no other field name of the tree folds to the same
// lower case. Then wherever encoding/json placed a key, it matched the
// field of that exact name. False means "not proven": walk the document.
func keysSpelledExactly(data []byte, t reflect.Type) bool {
	names := map[string]string{} // lower case → the one spelling, "" when several
	if !collectFieldNames(deref(t), names, 0) {
		return false
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		start, escaped := i+1, false
		for i++; i < len(data) && data[i] != '"'; i++ {
			if data[i] == '\\' {
				escaped = true
				i++
			}
		}
		end := i
		j := i + 1
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j++
		}
		if j >= len(data) || data[j] != ':' {
			continue // a string value
		}
		key := string(data[start:end])
		if escaped || names[strings.ToLower(key)] != key {
			return false
		}
	}
	return true
}

// collectFieldNames adds the JSON names of the fields of t's tree to names;
// false when the tree holds a map (whose keys are free) or is too deep.
func collectFieldNames(t reflect.Type, names map[string]string, depth int) bool {
	if t == nil { // decodes itself (json.Unmarshaler): any key it has is unproven
		return true
	}
	if depth > 8 {
		return false
	}
	switch t.Kind() {
	case reflect.Map:
		return false
	case reflect.Slice, reflect.Array:
		return collectFieldNames(deref(t.Elem()), names, depth+1)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
				continue
			case f.Anonymous && name == "":
				if !collectFieldNames(deref(f.Type), names, depth+1) {
					return false
				}
				continue
			case !f.IsExported():
				continue
			case name == "":
				name = f.Name
			}
			lower := strings.ToLower(name)
			if prev, seen := names[lower]; seen && prev != name {
				names[lower] = ""
			} else {
				names[lower] = name
			}
			if !collectFieldNames(deref(f.Type), names, depth+1) {
				return false
			}
		}
	}
	return true
}

// visit is one step of walkJSON: an object key or the start of a value.
type visit struct {
	path    string // JSON path in field-error form: variants[0].stock
	key     bool   // an object key rather than a value
	name    string // the key, when key
	unknown bool   // the key names no field of the struct it belongs to
	end     int64  // offset just past the key, the scalar or the opening delimiter
	str     string // the value, when it is a string
}

// walkJSON visits the keys and values of a valid-so-far JSON document in
// order, with the Go type each decodes into (nil when not known), until fn
// returns true or the document ends or breaks.
func walkJSON(data []byte, t reflect.Type, fn func(visit) bool) {
	type frame struct {
		array    bool
		index    int
		key      string
		wantKey  bool
		path     string
		t        reflect.Type // the container's type
		valueTyp reflect.Type // the type of the value being read
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []*frame
	rootType := deref(t)
	valuePath := func() string {
		if len(stack) == 0 {
			return bodyField
		}
		f := stack[len(stack)-1]
		if f.array {
			return f.path + "[" + strconv.Itoa(f.index) + "]"
		}
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	valueType := func() reflect.Type {
		if len(stack) == 0 {
			return rootType
		}
		return stack[len(stack)-1].valueTyp
	}
	done := func() { // a value in the top frame is complete
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		if f.array {
			f.index++
		} else {
			f.wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		end := dec.InputOffset()
		if len(stack) > 0 {
			if f := stack[len(stack)-1]; !f.array && f.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					done()
					continue
				}
				name, _ := tok.(string)
				f.key, f.wantKey = name, false
				ft, known := fieldType(f.t, name)
				f.valueTyp = ft
				if fn(visit{path: valuePath(), key: true, name: name, unknown: !known, end: end}) {
					return
				}
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
			stack = stack[:len(stack)-1]
			done()
			continue
		}
		path, vt := valuePath(), valueType()
		str, _ := tok.(string)
		if fn(visit{path: path, end: end, str: str}) {
			return
		}
		d, ok := tok.(json.Delim)
		if !ok {
			done()
			continue
		}
		f := &frame{array: d == '[', wantKey: d == '{', t: vt}
		if len(stack) > 0 {
			f.path = path
		}
		if f.array && vt != nil && (vt.Kind() == reflect.Slice || vt.Kind() == reflect.Array) {
			f.valueTyp = deref(vt.Elem())
		}
		stack = append(stack, f)
	}
}

// deref strips pointers and hides types that decode themselves (their
// fields are theirs to judge), returning nil for those.
func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	return t
}

// fieldType returns the type a key decodes into inside a value of type t.
// known is false only when t is a struct with no field named exactly key
// (tag name, else field name; through embedded structs).
func fieldType(t reflect.Type, key string) (ft reflect.Type, known bool) {
	if t == nil {
		return nil, true
	}
	switch t.Kind() {
	case reflect.Map:
		return deref(t.Elem()), true
	case reflect.Struct:
		if f, ok := jsonField(t, key); ok {
			return deref(f.Type), true
		}
		return nil, false
	}
	return nil, true
}

// jsonField finds the field of struct t that key names.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if ef, ok := jsonField(et, key); ok {
					return ef, true
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// reply writes v as a JSON body with the given status.
func reply(c *gin.Context, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	c.Data(status, "application/json", body)
	return nil
}

// noContent answers 204 with no body.
func noContent(c *gin.Context) error {
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
	return nil
}
