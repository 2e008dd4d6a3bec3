// Command s3server is the end-to-end runs' off-host store: an S3 server
// (gofakes3, an implementation of the S3 protocol, in memory) for the
// backups' off-host copies, listening on an address of the test network.
//
//	s3server -listen 198.18.0.1:9000 -bucket django-e2e-backups -cert s3.pem -key s3.key
//
// With -cert and -key it serves https, as the program requires of an S3
// endpoint; without, plain http.
//
// It makes the bucket at start and logs each request's method and path, so
// a run can count what reached it. Everything it holds is gone when it
// stops, as the run's own server is.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "ADDR:PORT to serve S3 on")
	bucket := flag.String("bucket", "", "a bucket to make at start")
	cert := flag.String("cert", "", "PEM certificate to serve https with (with -key)")
	key := flag.String("key", "", "its PEM private key")
	flag.Parse()
	backend := s3mem.New()
	if *bucket != "" {
		if err := backend.CreateBucket(*bucket); err != nil {
			fmt.Fprintf(os.Stderr, "s3server: making the bucket %s: %v\n", *bucket, err)
			os.Exit(1)
		}
	}
	s3 := gofakes3.New(backend)
	handler := s3.Server()
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s", r.Method, r.URL.Path)
		handler.ServeHTTP(w, r)
	})
	server := &http.Server{Addr: *listen, Handler: logged, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving S3 on %s", *listen)
	var err error
	if *cert != "" {
		err = server.ListenAndServeTLS(*cert, *key)
	} else {
		err = server.ListenAndServe()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3server: %v\n", err)
		os.Exit(1)
	}
}
