package function

import (
	"fmt"
	"io"
	"net/http"
)

// Handle is called once per request, with the standard library's ResponseWriter and Request.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello from pyfaas, you said: %s", body)
}
