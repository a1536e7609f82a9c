// The proof of concept's load scenario against the ingest API, for people who have k6.
// k6 is AGPL-3.0: this project does not install it. Without k6, the same scenario runs with
// `python -m bench.load.send_events` (locust for the ramp, an open-loop generator for a rate).
//
//   EDP_API_KEY=... k6 run bench/k6/send_events.js                      # ramp: 1000 VUs over 240 s
//   EDP_API_KEY=... k6 run -e MODE=rate -e RATE=500 -e DURATION=30 bench/k6/send_events.js
//
// Environment:
//   EDP_API_KEY  the org's API key (required)        EDP_URL   base URL (default http://127.0.0.1:8000)
//   MODE         ramp (default) | rate
//   VUS, RAMP    ramp: VUs at the top (1000) and ramp seconds (240); each VU posts, then sleeps 1 s
//   RATE, DURATION  rate: requests per second (500) for DURATION seconds (30), open model
//   BATCH        events per request (default 1; more posts to /v1/events/batch)
import http from 'k6/http';
import { check, sleep } from 'k6';

const BASE = (__ENV.EDP_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const KEY = __ENV.EDP_API_KEY || '';
const MODE = __ENV.MODE || 'ramp';
const VUS = parseInt(__ENV.VUS || '1000', 10);
const RAMP = parseInt(__ENV.RAMP || '240', 10);
const RATE = parseInt(__ENV.RATE || '500', 10);
const DURATION = parseInt(__ENV.DURATION || '30', 10);
const BATCH = Math.max(1, parseInt(__ENV.BATCH || '1', 10));
const TYPES = ['EVENT_A', 'EVENT_B', 'EVENT_C'];
const PATH = BATCH > 1 ? '/v1/events/batch' : '/v1/events';

const SCENARIOS = {
  ramp: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [{ duration: `${RAMP}s`, target: VUS }],
    gracefulRampDown: '5s',
  },
  rate: {
    executor: 'constant-arrival-rate',
    rate: RATE,
    timeUnit: '1s',
    duration: `${DURATION}s`,
    // Enough VUs that a slow server cannot throttle the arrival rate (up to ~2 s of latency).
    preAllocatedVUs: Math.min(Math.max(10, Math.ceil(RATE / 10)), 1000),
    maxVUs: Math.max(100, RATE * 2),
  },
};

if (!(MODE in SCENARIOS)) {
  throw new Error(`MODE must be ramp or rate, not ${MODE}`);
}

export const options = {
  scenarios: { [MODE]: SCENARIOS[MODE] },
  // The proof of concept's thresholds.
  thresholds: {
    http_req_duration: ['p(90)<200', 'p(95)<500', 'p(99.9)<1200'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'max'],
};

// Every request of this project's benchmark goes to loopback only.
function requireLoopback(url) {
  const m = url.match(/^https?:\/\/(\[[^\]]+\]|[^/:]+)(:\d+)?(\/|$)/);
  const host = m ? m[1] : '';
  if (!(host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host))) {
    throw new Error(`EDP_URL ${url}: the benchmark only sends to loopback`);
  }
}

export function setup() {
  requireLoopback(BASE);
  if (!KEY) {
    throw new Error('EDP_API_KEY is not set (make run writes the demo keys to .local/demo-keys.json)');
  }
}

function event(n) {
  return {
    type: TYPES[Math.floor(Math.random() * TYPES.length)],
    data: { n: n, user: `u${Math.floor(Math.random() * 10000)}`, amount: Math.round(Math.random() * 50000) / 100 },
  };
}

const PARAMS = {
  headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
  tags: { name: PATH },
};

export default function () {
  const n = __VU * 1000000 + __ITER;
  let body;
  if (BATCH > 1) {
    const events = [];
    for (let i = 0; i < BATCH; i++) {
      events.push(event(n * BATCH + i));
    }
    body = { events: events };
  } else {
    body = event(n);
  }
  const res = http.post(`${BASE}${PATH}`, JSON.stringify(body), PARAMS);
  check(res, { 'accepted (202)': (r) => r.status === 202 });
  if (MODE === 'ramp') {
    sleep(1);
  }
}
