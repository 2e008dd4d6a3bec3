package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// now is the clock status measures ages with.
var now = time.Now

// inspected is what status reads of a container (docker inspect): never
// its environment, which holds no secret value but is not status's to show.
type inspected struct {
	Name         string
	Image        string // the image's id
	RestartCount int
	State        struct {
		Status    string
		StartedAt time.Time
		Health    *struct{ Status string }
	}
}

// status prints the stack's host, URLs, every container or service with
// its state, and the backend's image and the previous one.
func (h *host) status() error {
	runtime := h.Runtime
	if runtime == "" {
		runtime = "container"
	}
	fmt.Fprintf(h.stdout, "stack %s on %s (%s runtime)\n", h.Name, h.DockerHost, runtime)
	for _, u := range h.URLs {
		fmt.Fprintf(h.stdout, "url %s\n", u)
	}
	w := tabwriter.NewWriter(h.stdout, 0, 4, 2, ' ', 0)
	var err error
	if h.Swarm() {
		err = h.swarmStatus(w)
	} else {
		err = h.containerStatus(w)
	}
	w.Flush()
	if err != nil {
		return err
	}
	previous := h.PreviousBackendImage
	if previous == "" {
		previous = "none recorded (a release of a new image records it)"
	} else {
		previous += " (stackctl rollback deploys it)"
	}
	fmt.Fprintf(h.stdout, "backend image %s\nprevious image %s\n", orNone(h.BackendImage), previous)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none recorded (deploy with this version of the program)"
	}
	return s
}

func (h *host) containerStatus(w *tabwriter.Writer) error {
	keys := h.components()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = h.Containers[k]
	}
	// A missing container makes docker inspect fail after printing the
	// others: it is shown as missing.
	out, inspectErr := h.output(append([]string{"inspect", "--type", "container"}, names...)...)
	var found []inspected
	if err := json.Unmarshal([]byte(out), &found); err != nil && inspectErr != nil {
		return inspectErr
	}
	byName := map[string]inspected{}
	var ids []string
	for _, c := range found {
		byName[strings.TrimPrefix(c.Name, "/")] = c
		ids = append(ids, c.Image)
	}
	images := h.imageNames(ids)
	fmt.Fprintln(w, "COMPONENT\tCONTAINER\tSTATE\tHEALTH\tIMAGE\tUP\tRESTARTS")
	for i, k := range keys {
		c, ok := byName[names[i]]
		if !ok {
			fmt.Fprintf(w, "%s\t%s\tmissing\t-\t-\t-\t-\n", k, names[i])
			continue
		}
		health, up := "-", "-"
		if c.State.Health != nil {
			health = c.State.Health.Status
		}
		if c.State.Status == "running" {
			up = age(now().Sub(c.State.StartedAt))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", k, names[i], c.State.Status, health, images[c.Image], up, c.RestartCount)
	}
	return nil
}

// imageNames names each image id by its first tag (or repository digest)
// and its short id.
func (h *host) imageNames(ids []string) map[string]string {
	names := map[string]string{}
	for _, id := range ids {
		names[id] = shortID(id)
	}
	if len(ids) == 0 {
		return names
	}
	out, _ := h.output(append([]string{"image", "inspect", "--format", "{{.Id}}|{{range .RepoTags}}{{.}} {{end}}|{{range .RepoDigests}}{{.}} {{end}}"}, ids...)...)
	for _, line := range strings.Split(out, "\n") {
		id, rest, ok := strings.Cut(line, "|")
		if !ok {
			continue
		}
		tags, digests, _ := strings.Cut(rest, "|")
		if f := strings.Fields(tags + " " + digests); len(f) > 0 {
			names[id] = f[0] + " " + shortID(id)
		}
	}
	return names
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// age is a duration as status shows it: 45s, 12m, 3h20m, 4d2h.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// task is a line of docker service ps.
type task struct {
	ID, Name, Image, Node, DesiredState, CurrentState, Error string
}

// swarmStatus prints each service with its running tasks: where each runs,
// since when, its health where the task runs on the host stackctl talks
// to, and how many tasks of its slot ended before it (its restarts).
func (h *host) swarmStatus(w *tabwriter.Writer) error {
	fmt.Fprintln(w, "COMPONENT\tTASK\tSTATE\tHEALTH\tIMAGE\tNODE\tRESTARTS")
	for _, k := range h.components() {
		service := h.Containers[k]
		out, err := h.output("service", "ps", "--no-trunc", "--format", "{{json .}}", service)
		if err != nil {
			fmt.Fprintf(w, "%s\t%s\tmissing\t-\t-\t-\t-\n", k, service)
			continue
		}
		var tasks []task
		ended := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var t task
			if json.Unmarshal([]byte(line), &t) != nil {
				continue
			}
			// History lines are drawn under their slot's task.
			t.Name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t.Name), `\_`))
			if t.DesiredState == "Running" {
				tasks = append(tasks, t)
			} else {
				ended[t.Name]++
			}
		}
		health := h.taskHealth(service)
		if len(tasks) == 0 {
			fmt.Fprintf(w, "%s\t%s\tno task running\t-\t-\t-\t-\n", k, service)
		}
		for _, t := range tasks {
			hs := health[t.Name+"."+t.ID]
			if hs == "" {
				hs = "-"
			}
			image, _, _ := strings.Cut(t.Image, "@")
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", k, t.Name, t.CurrentState, hs, image, t.Node, ended[t.Name])
		}
	}
	return nil
}

// taskHealth is the health of the service's task containers on the host
// stackctl talks to, by container name (service.slot.task-id).
func (h *host) taskHealth(service string) map[string]string {
	health := map[string]string{}
	out, err := h.output("ps", "--filter", "label=com.docker.swarm.service.name="+service, "--format", "{{.Names}}|{{.Status}}")
	if err != nil {
		return health
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, state, ok := strings.Cut(line, "|")
		if !ok {
			continue
		}
		switch {
		case strings.Contains(state, "(healthy)"):
			health[name] = "healthy"
		case strings.Contains(state, "(unhealthy)"):
			health[name] = "unhealthy"
		case strings.Contains(state, "(health: starting)"):
			health[name] = "starting"
		}
	}
	return health
}
