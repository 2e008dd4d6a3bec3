// Command django-stack is the Pulumi program that deploys a production-tuned
// Django stack (Postgres, Redis, the Django backend, nginx and Traefik) onto
// Docker. Everything it does is in package stacks.
package main

import "github.com/djangostack/infra/stacks"

func main() {
	stacks.Run()
}
