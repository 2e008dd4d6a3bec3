package components

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type echoMocks struct{ registered []string }

func (m *echoMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.registered = append(m.registered, args.TypeToken+" "+args.Name)
	return args.Name + "-id", args.Inputs, nil
}

func (m *echoMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// A Swarm config is named after its content, so a file whose content is
// not known when the program runs cannot become one: newService says so
// rather than upload an empty file.
func TestAServiceRefusesAFileOfUnknownContent(t *testing.T) {
	for _, c := range []struct {
		name    string
		content pulumi.StringInput
		fails   bool
	}{
		{"literal", pulumi.String("listen 80;"), false},
		{"output", pulumi.String("listen 80;").ToStringOutput(), true},
	} {
		mocks := &echoMocks{}
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			_, err := newService(ctx, "web", Workload{
				Name:     "app-web",
				Image:    pulumi.String("nginx:1.27-alpine"),
				Files:    []File{{Path: "/etc/nginx/nginx.conf", Content: c.content, Mode: "0444"}},
				Settings: DefaultNginxSettings().ContainerSettings,
			})
			return err
		}, pulumi.WithMocks("project", "stack", mocks))
		switch {
		case c.fails && (err == nil || !strings.Contains(err.Error(), "file /etc/nginx/nginx.conf: its content is not a literal")):
			t.Errorf("%s content: err = %v, registered %v", c.name, err, mocks.registered)
		case !c.fails && err != nil:
			t.Errorf("%s content: %v", c.name, err)
		}
	}
}

func TestJoinKey(t *testing.T) {
	for _, c := range []struct{ prefix, key, want string }{
		{"postgres", "tuning.workMem", "postgres.tuning.workMem"},
		{"backend.cors", "allowedOrigins[2]", "backend.cors.allowedOrigins[2]"},
		{"backend.env", "[x]", "backend.env.[x]"},
		{"backendSecrets", "", "backendSecrets."},
		{"", "tls", "tls"},
	} {
		if got := JoinKey(c.prefix, c.key); got != c.want {
			t.Errorf("JoinKey(%q, %q) = %q, want %q", c.prefix, c.key, got, c.want)
		}
	}
}
