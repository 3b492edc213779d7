-- wrk script: POST the AdmissionReview in $CUSTODY_BENCH_BODY to the URL's path.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local path = os.getenv("CUSTODY_BENCH_BODY") or "benches/data/pod-review.json"
local f = assert(io.open(path, "r"), "cannot read " .. path)
wrk.body = f:read("*a")
f:close()
