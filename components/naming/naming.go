package naming

import (
	"maps"
	"regexp"
	"strings"
)

// Label keys every Docker object of a deployment carries. They make
// `docker ps --filter label=djangostack.stack=production` work, and they are how
// Traefik is restricted to the containers of its own deployment.
const (
	LabelProject   = "djangostack.project"
	LabelStack     = "djangostack.stack"
	LabelComponent = "djangostack.component"
	// LabelIngress marks what the host's shared Traefik routes.
	LabelIngress = "djangostack.ingress"
)

var unsafeDockerName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Naming derives Docker object names and labels for one deployment. Components
// receive it and never learn which stack they are in: they only know that every
// name they create starts with Prefix and that every object carries Labels.
type Naming struct {
	// Project is the Pulumi project's name, as Docker names carry it.
	Project string
	// Prefix starts every Docker name ("django-stack-production").
	Prefix string
	// Labels identify the deployment; every Docker object carries them.
	Labels map[string]string
}

// NewNaming returns the naming of a Pulumi project's stack: Docker names start
// with "<project>-<stack>", so two stacks of one project can share a host.
func NewNaming(project, stack string) Naming {
	prefix := unsafeDockerName.ReplaceAllString(project+"-"+stack, "-")
	return Naming{
		Project: strings.Trim(unsafeDockerName.ReplaceAllString(project, "-"), "-_."),
		Prefix:  strings.Trim(prefix, "-_."),
		Labels:  map[string]string{LabelProject: project, LabelStack: stack},
	}
}

// Name is the Docker name of a part of the deployment ("…-postgres").
func (n Naming) Name(part string) string { return n.Prefix + "-" + part }

// Shared is the Docker name of what the project's stacks on one host share
// ("django-stack-ingress").
func (n Naming) Shared(part string) string { return n.Project + "-" + part }

// MaxDNSLabel is the longest label of a DNS name (RFC 1035): a container
// name that other containers resolve must fit in one, and so must a clone's
// stack name, the first label of its host name.
const MaxDNSLabel = 63

// ComponentLabels returns the deployment's labels plus the component's own.
func (n Naming) ComponentLabels(component string) map[string]string {
	labels := maps.Clone(n.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelComponent] = component
	return labels
}
