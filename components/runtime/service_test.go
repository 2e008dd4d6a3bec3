package runtime

import (
	"strings"
	"testing"

	"github.com/djangostack/infra/components/units"
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
				Settings: GuideContainer(NewResources(0.5, 128, 0.25, 64), Healthcheck{Interval: units.Seconds(30), Timeout: units.Seconds(10), Retries: 3}, units.Seconds(10)),
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

// Docker refuses a Swarm secret or config named over 64 characters, which
// the backup's superuser password file reached under a production prefix.
// A name that fits is kept as it reads; a longer one is cut and stays unique
// for its service, file and content.
func TestSwarmObjectNamesFitDockersLimit(t *testing.T) {
	short := swarmObjectName("app-web", "nginx.conf", "listen 80;")
	if want := "app-web-nginx.conf-" + digest("listen 80;")[:10]; short != want {
		t.Errorf("a name that fits = %q, want %q", short, want)
	}
	service := "django-stack-production-backup"
	long := swarmObjectName(service, "postgres-superuser-password", "s3cret")
	names := map[string]string{long: "long"}
	for label, other := range map[string]string{
		"other content": swarmObjectName(service, "postgres-superuser-password", "s3cret2"),
		"other file":    swarmObjectName(service, "postgres-superuser-passwore", "s3cret"),
		"other service": swarmObjectName(service+"x", "postgres-superuser-password", "s3cret"),
	} {
		if _, taken := names[other]; taken {
			t.Errorf("%s gives the same name %q", label, other)
		}
		names[other] = label
	}
	for name := range names {
		if len(name) > swarmObjectMaxName || !strings.HasPrefix(name, service) || strings.Contains(name, "s3cret") {
			t.Errorf("name %q (%d characters): want at most %d, starting with the service, without the content", name, len(name), swarmObjectMaxName)
		}
	}
}
