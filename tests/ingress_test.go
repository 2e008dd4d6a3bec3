package tests

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/djangostack/infra/components/naming"
)

// Staging runs the host's shared Traefik; its clones join it, so a clone
// runs on staging's host without a second Traefik fighting for 80 and 443.
func TestClonesShareStagingsTraefik(t *testing.T) {
	staging := deployOK(t, "staging", withEdge(fixtureConfig(t, "staging")))
	clone := deployOK(t, "pr-42", withEdge(fixtureConfig(t, "staging")))

	if n := staging.get(typeNetwork, "edge").str("name"); n != "django-stack-ingress" {
		t.Errorf("staging's edge network is %q, want the host's ingress network", n)
	}
	if at(traefikStatic(t, staging), "providers.docker.constraints") != "Label(`djangostack.ingress`, `host`) && Label(`djangostack.project`, `django-stack`)" {
		t.Errorf("staging's Traefik selects %v, want every stack of the project that joins it", at(traefikStatic(t, staging), "providers.docker.constraints"))
	}
	for _, c := range clone.all(typeContainer) {
		if role(c.Name) == "traefik" {
			t.Errorf("the clone runs a Traefik of its own")
		}
		if len(asSlice(c.input("ports"))) > 0 {
			t.Errorf("the clone's %s publishes ports", c.Name)
		}
	}
	for _, n := range clone.all(typeNetwork) {
		if n.Name == "edge" {
			t.Errorf("the clone creates an edge network (%s)", n.str("name"))
		}
	}
	for _, role := range []string{"backend-1", "nginx"} {
		c := clone.container(role)
		if nets := c.networks(); !slices.Contains(nets, "django-stack-ingress") {
			t.Errorf("the clone's %s is on %v, not the host's ingress network", role, nets)
		}
		if c.labels()[naming.LabelIngress] != "host" {
			t.Errorf("the clone's %s is not labelled for the shared Traefik", role)
		}
	}
	if nets := clone.container("postgres").networks(); !reflect.DeepEqual(nets, []string{"django-stack-pr-42-data"}) {
		t.Errorf("the clone's postgres is on %v: its data stays on its own network", nets)
	}

	// What the shared Traefik sees: both stacks' routers and services, valid
	// Traefik v3, none colliding, every router pointing at what exists.
	_, dynamic := traefikSchemas(t)
	containers := append(labeledContainers(staging), labeledContainers(clone)...)
	dyn, err := dynamicFromLabels(dynamic, containers)
	if err != nil {
		t.Fatalf("staging's and the clone's labels together: %v", err)
	}
	if err := dynamic.check(dyn); err != nil {
		t.Errorf("not valid Traefik v3: %v", err)
	}
	doc := traefikStatic(t, staging)
	if err := checkDynamicReferences(dyn, traefikDynamic(t, staging), doc); err != nil {
		t.Error(err)
	}
	if err := checkTraefikSeesContainers(doc, containers); err != nil {
		t.Error(err)
	}
	rules := map[string]string{}
	for name, r := range asMap(at(dyn, "http.routers")) {
		rules[name] = asMap(r)["rule"].(string)
	}
	if !strings.Contains(rules["django-stack-pr-42-backend"], "Host(`pr-42.staging.example.com`)") ||
		!strings.Contains(rules["django-stack-staging-backend"], "Host(`staging.example.com`)") {
		t.Errorf("routers: %v", rules)
	}
}

func TestProductionKeepsItsOwnTraefik(t *testing.T) {
	r := deployOK(t, "production", fixtureConfig(t, "production"))
	if n := r.get(typeNetwork, "edge").str("name"); n != "django-stack-production-edge" {
		t.Errorf("production's edge network is %q", n)
	}
	for _, c := range r.all(typeContainer) {
		if _, shared := c.labels()[naming.LabelIngress]; shared {
			t.Errorf("production's %s is labelled for a shared Traefik", c.Name)
		}
	}
	if r := deploy(t, "staging", with(t, "staging", "runtime", "swarm")); r.err == nil || !strings.Contains(r.err.Error(), `traefik.ingress: "host" is for stacks sharing one Docker host`) {
		t.Errorf("a shared ingress on a swarm: %v", r.err)
	}
}
