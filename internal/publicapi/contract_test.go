package publicapi_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/vacunometro/vacunometro/internal/app"
	"github.com/vacunometro/vacunometro/internal/producer"
	"github.com/vacunometro/vacunometro/internal/publicapi"
	"github.com/vacunometro/vacunometro/internal/testenv"
)

func loadContract(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(publicapi.OpenAPI())
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

type exchange struct {
	method, path, contentType, body string
	auth                            bool
	key                             string // producer key of a POST of records; "" for the test producer's, "-" for none
	want                            int
	validRequest                    bool // the request itself follows the contract
}

// TestContract sends requests in every documented form to the real ingest
// tier's handler (app.BuildIngest: records, stats, split, health, and the
// public API) and checks each answer, errors included, against
// /api/openapi.json with kin-openapi.
func TestContract(t *testing.T) {
	doc := loadContract(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	rs := testenv.StartRedis(t, true)
	tokb := make([]byte, 16)
	_, _ = rand.Read(tokb)
	token := hex.EncodeToString(tokb)
	revoked, limited := testenv.ProducerKey()+"-revoked", testenv.ProducerKey()+"-limited"
	rev := producer.New("revoked", revoked)
	rev.Revoked = time.Now()
	lim := producer.New("limited", limited)
	lim.Rate, lim.Burst = 1, 1
	if err := producer.PublishTable(context.Background(), rs.Client(t), []producer.Producer{producer.New("local", testenv.ProducerKey()), rev, lim}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDIS_URL": rs.URL, "SPLIT": "redis=100", "GRPC_SERVER_ADDRESS": testenv.FreeAddr(t), "ADMIN_TOKEN": token, "LOG_LEVEL": "error"}
	h, closeFn, err := app.BuildIngest(context.Background(), func(k string) string { return env[k] }, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)

	one := `{"name":"Duglas Francisco Avila Torres","location":"Chimaltenango","age":19,"vaccine_type":"Sputnik V","n_dose":1,"vaccinated_at":"2021-03-01T10:00:00-06:00"}`
	var many strings.Builder
	many.WriteString("[")
	for i := range 1001 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(one)
	}
	many.WriteString("]")
	cases := []exchange{
		{method: "POST", path: "/api/records", contentType: "application/json", body: one, want: 202, validRequest: true},
		{method: "POST", path: "/api/records", contentType: "application/json", body: "[" + one + "," + one + "]", want: 202, validRequest: true},
		{method: "POST", path: "/", contentType: "application/x-ndjson", body: one + "\n" + one + "\n", want: 202, validRequest: true},
		{method: "POST", path: "/", contentType: "application/json", body: one, want: 202, validRequest: true},
		{method: "POST", path: "/api/records", contentType: "application/json", body: `[` + one + `,{"name":"","location":"Atlantis","age":300,"vaccine_type":"x","n_dose":9}]`, want: 422},
		{method: "POST", path: "/api/records", contentType: "application/json", body: strings.Replace(one, "2021-03-01T10:00:00-06:00", "2099-01-01", 1), want: 422},
		{method: "POST", path: "/api/records", contentType: "application/json", body: strings.Replace(one, "2021-03-01T10:00:00-06:00", "1999-05-01", 1), want: 422},
		{method: "POST", path: "/api/records", contentType: "application/json", body: `{"name":`, want: 400},
		{method: "POST", path: "/api/records", contentType: "text/plain", body: one, want: 415},
		{method: "POST", path: "/api/records", contentType: "application/json", body: many.String(), want: 413},
		{method: "POST", path: "/api/records", contentType: "application/json", body: one, key: "-", want: 401},
		{method: "POST", path: "/", contentType: "application/json", body: one, key: testenv.ProducerKey() + "x", want: 401},
		{method: "POST", path: "/api/records", contentType: "application/json", body: one, key: revoked, want: 403},
		{method: "POST", path: "/", contentType: "application/json", body: "[" + one + "," + one + "]", key: limited, want: 429},
		{method: "GET", path: "/api/stats", want: 200, validRequest: true},
		{method: "GET", path: "/api/split", want: 200, validRequest: true},
		{method: "PUT", path: "/api/split", contentType: "application/json", body: `{"weights":{"redis":100}}`, want: 401},
		{method: "PUT", path: "/api/split", contentType: "application/json", body: `{"weights":{"redis":100}}`, auth: true, want: 200, validRequest: true},
		{method: "PUT", path: "/api/split", contentType: "application/json", body: `{"weights":{"carrier-pigeon":100}}`, auth: true, want: 422},
		{method: "GET", path: "/api/series", want: 200, validRequest: true},
		{method: "GET", path: "/api/series?department=GT-04&from=2021-02-25&to=2021-03-31", want: 200, validRequest: true},
		{method: "GET", path: "/api/series?from=March", want: 400},
		{method: "GET", path: "/api/departments/GT-04", want: 200, validRequest: true},
		{method: "GET", path: "/api/departments/GT-99", want: 404, validRequest: true},
		{method: "GET", path: "/api/data", want: 200, validRequest: true},
		{method: "GET", path: "/api/data/dictionary.json", want: 200, validRequest: true},
		{method: "GET", path: "/api/data/departments.csv", want: 200, validRequest: true},
		{method: "GET", path: "/api/data/departments.json", want: 200, validRequest: true},
		{method: "GET", path: "/api/data/daily.csv", want: 200, validRequest: true},
		{method: "GET", path: "/api/data/daily.json", want: 200, validRequest: true},
		{method: "GET", path: "/api/openapi.json", want: 200, validRequest: true},
		{method: "GET", path: "/healthz", want: 200, validRequest: true},
		{method: "GET", path: "/readyz", want: 200, validRequest: true},
		{method: "GET", path: "/api/nothing-here", want: 404, validRequest: true},
		{method: "GET", path: "/api/data/nothing.csv", want: 404},
		{method: "POST", path: "/api/stats", want: 405},
		{method: "DELETE", path: "/api/split", want: 405},
		{method: "GET", path: "/api/records", want: 405},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if c.method == "POST" && (c.path == "/" || c.path == "/api/records") && c.key != "-" {
				req.Header.Set("Authorization", "Bearer "+cmp.Or(c.key, testenv.ProducerKey()))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body)
			}
			ct := w.Header().Get("Content-Type")
			if strings.HasPrefix(c.path, "/api/") && !strings.Contains(c.path, ".csv") || w.Code >= 400 {
				if !strings.HasPrefix(ct, "application/json") || !json.Valid(w.Body.Bytes()) {
					t.Fatalf("answer is not JSON: %q %s", ct, w.Body)
				}
			}
			vreq := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			vreq.Header = req.Header.Clone()
			rt, params, err := router.FindRoute(vreq)
			switch {
			case err != nil && err.Error() == routers.ErrMethodNotAllowed.Error():
				if w.Code != 405 || w.Header().Get("Allow") == "" {
					t.Fatalf("a method the contract does not give: %d, Allow %q", w.Code, w.Header().Get("Allow"))
				}
				checkSchema(t, doc, doc.Components.Responses["MethodNotAllowed"].Value, w)
				return
			case err != nil:
				var re *routers.RouteError
				if errors.As(err, &re) && w.Code == 404 {
					checkSchema(t, doc, doc.Components.Responses["NotFound"].Value, w)
					return
				}
				t.Fatalf("find route: %v", err)
			}
			covered[rt.Method+" "+rt.Path] = true
			opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
			in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: rt, Options: opts}
			if c.validRequest && c.contentType == "application/x-ndjson" {
				// kin-openapi decodes no NDJSON: check each line as a record.
				schema := doc.Components.Schemas["RecordInput"].Value
				for _, line := range strings.Split(strings.TrimSpace(c.body), "\n") {
					var v any
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Fatal(err)
					}
					if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
						t.Fatalf("an NDJSON line does not follow the contract: %v", err)
					}
				}
				in.Options = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, ExcludeRequestBody: true}
			}
			if c.validRequest {
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Fatalf("the request does not follow the contract: %v", err)
				}
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code, Header: w.Header(), Options: opts}
			out.SetBodyBytes(w.Body.Bytes())
			if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
				t.Fatalf("the answer does not follow the contract: %v\nbody: %.600s", err, w.Body)
			}
		})
	}
	// Every documented operation was exercised, but the admin rebuild (not
	// on the ingest tier).
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			k := method + " " + path
			if !covered[k] && k != "POST /api/admin/rebuild" {
				missing = append(missing, k)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented operations no case exercised: %v", missing)
	}
}

// checkSchema validates w's JSON body against a response object of the
// contract (for answers no single operation owns: 404 and 405).
func checkSchema(t *testing.T, doc *openapi3.T, resp *openapi3.Response, w *httptest.ResponseRecorder) {
	t.Helper()
	mt := resp.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		t.Fatal("response object without a JSON schema")
	}
	var v any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Fatalf("body does not follow the contract: %v\n%s", err, w.Body)
	}
}

// TestContractIsServed checks /api/openapi.json serves the document the
// contract test validates against, even with no Redis.
func TestContractIsServed(t *testing.T) {
	mux := http.NewServeMux()
	publicapi.New(publicapi.Config{}).Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/openapi.json", nil))
	body, _ := io.ReadAll(w.Body)
	if w.Code != 200 || !bytes.Equal(body, publicapi.OpenAPI()) {
		t.Fatalf("GET /api/openapi.json: %d, %d bytes", w.Code, len(body))
	}
}
