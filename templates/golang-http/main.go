// pyfaas golang-http template: an HTTP server that sends every request to function.Handle. The watchdog
// (http mode) starts the binary once and forwards calls to it on http_port.
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"handler/function"
)

func main() {
	port := os.Getenv("http_port")
	if port == "" {
		port = "8082"
	}
	server := &http.Server{
		Addr:              "127.0.0.1:" + port,
		Handler:           http.HandlerFunc(function.Handle),
		ReadHeaderTimeout: 10 * time.Second,
		// Outlive the watchdog's pooled connections, so it never reuses one the server is closing.
		IdleTimeout: 65 * time.Second,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	log.Printf("golang-http function listening on %s", server.Addr)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
