package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/latchkeyhq/latchkey/policy"
)

// Every registered method must have an entry in the authorization table, and
// every entry must name a registered method (no stale rules).
func TestAuthzTableCoversEveryRegisteredMethod(t *testing.T) {
	e := newEnv(t)
	registered := map[string]bool{}
	for svc, info := range e.srv.GRPC().GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			registered[full] = true
			roles, ok := methodRoles[full]
			if !ok {
				t.Errorf("method %s has no authorization rule (it would be denied to everyone)", full)
				continue
			}
			if len(roles) == 0 {
				t.Errorf("method %s has an empty role list", full)
			}
		}
	}
	for m := range methodRoles {
		if !registered[m] {
			t.Errorf("authorization rule for unregistered method %s", m)
		}
	}
	if len(registered) < 9 {
		t.Fatalf("only %d methods registered; expected token, key, health and reflection services", len(registered))
	}
}

// A method missing from the table is denied even to an admin.
func TestAuthorizeDeniesUnknownMethod(t *testing.T) {
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	c := withCaller(t.Context(), Caller{Identity: idAdmin})
	err = authorize(c, "/latchkey.v1.TokenService/NotInTable", pol)
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("got %v, want PermissionDenied", err)
	}
	if err := authorize(t.Context(), "/grpc.health.v1.Health/Check", pol); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no caller in context: got %v, want Unauthenticated", err)
	}
}

// Each identity reaches exactly the methods its roles allow (SECURITY-CASES
// V3, I1, V5): the call from a caller without the role is PermissionDenied
// before any handler runs; an allowed call gets past authorization.
func TestAuthzMatrix(t *testing.T) {
	e := newEnv(t)
	allowed := map[string]map[string]bool{
		idAdmin:      {"admin": true},
		idIntrospect: {"introspect": true},
		idWorkloadA:  {"exchange": true},
		idNobody:     {},
	}
	var methods []string
	for svc, info := range e.srv.GRPC().GetServiceInfo() {
		for _, m := range info.Methods {
			methods = append(methods, "/"+svc+"/"+m.Name)
		}
	}
	for _, id := range []string{idAdmin, idIntrospect, idWorkloadA, idNobody} {
		conn := e.conn(id)
		for _, method := range methods {
			roles := methodRoles[method]
			if isStream(method) || (len(roles) > 0 && roles[0] == anyCaller) {
				continue
			}
			want := false
			for _, r := range roles {
				want = want || allowed[id][string(r)]
			}
			t.Run(id+method, func(t *testing.T) {
				err := conn.Invoke(ctx(t), method, &emptypb.Empty{}, &emptypb.Empty{})
				denied := status.Code(err) == codes.PermissionDenied &&
					status.Convert(err).Message() == "caller is not allowed to call this method"
				if want && denied {
					t.Fatalf("%s should be allowed to call %s, got %v", id, method, err)
				}
				if !want && !denied {
					t.Fatalf("%s must be denied %s, got %v", id, method, err)
				}
			})
		}
	}
}

func isStream(method string) bool {
	return method == "/grpc.health.v1.Health/Watch" ||
		method == "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" ||
		method == "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
}
