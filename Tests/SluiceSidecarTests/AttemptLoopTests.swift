import NIOCore
import NIOEmbedded
import NIOHTTP1
import SluicePolicy
import Testing
@testable import SluiceSidecar
import SluiceWire

/// Every test below that plans a retry traps today ("Simultaneous accesses … modification
/// requires exclusive access"): `AttemptLoop.budgetCheck` returns a closure that reads
/// `self.planner.retry`, and the planner calls it from inside the mutating
/// `planner.after(…)`, so the read overlaps the write. Dynamic exclusivity checks stay on
/// in release builds: the sidecar would abort on the first retry. Fix: read
/// `let retry = planner.retry` in `budgetCheck` before returning the closure, then make
/// this `.enabled(if: true)`.
private let retriesTrap = ConditionTrait.enabled(if: true)

/// The attempt loop as a thin shell: the resilience stage's source on an embedded event
/// loop, over a terminal whose answers the test scripts attempt by attempt, into a sink
/// that records what the client would get.
@Suite struct AttemptLoopTests {
    let loop = EmbeddedEventLoop()
    private let provider = LoopScriptedProvider()
    private let sink = LoopRecordingSink()

    /// Two models of one provider: `primary` (the route's target) and `backup` (its fallback).
    func policy(retry: RetrySettings, fallbacks: [String], total: Int?, fallbackReply: String?, breaker: BreakerSettings) -> Policy {
        Policy(
            providers: ["openai": Provider(name: "openai", kind: .openai, baseURL: "http://127.0.0.1:9", breaker: breaker)],
            models: [
                "primary": Model(name: "primary", provider: "openai"),
                "backup": Model(name: "backup", provider: "openai"),
            ],
            routes: [Route(
                name: "chat", match: RouteMatch(model: "chat"), targets: [RouteTarget(model: "primary")], fallbacks: fallbacks,
                timeouts: Timeouts(total: total), retry: retry, fallbackReply: fallbackReply.map(FallbackReply.init(content:))
            )]
        )
    }

    /// A routed call that went through parse, identify, route and resilience, and its
    /// attempt loop (not started).
    func makeLoop(
        retry: RetrySettings = RetrySettings(attempts: 1, backoffMilliseconds: 0), fallbacks: [String] = ["backup"],
        total: Int? = nil, fallbackReply: String? = nil, breaker: BreakerSettings = BreakerSettings(), stream: Bool = false,
        deadlineAfterPlanning: UInt64? = nil
    ) throws -> (call: Call, loop: any ResponseSource) {
        let snapshot = try RuntimeSnapshot(policy: policy(retry: retry, fallbacks: fallbacks, total: total, fallbackReply: fallbackReply, breaker: breaker), version: "t")
        var body = ByteBuffer()
        body.writeString(#"{"model":"chat","stream":\#(stream),"messages":[{"role":"user","content":"hi"}]}"#)
        let call = Call(
            id: "req-9", head: HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/chat/completions"), body: body, transport: .h1,
            startNanos: NIODeadline.now().uptimeNanoseconds, snapshot: snapshot, credentials: CredentialSet(), family: .openai,
            randomBits: 0x1234_5678, traceBits: (1, 2, 3), wallClock: WallClockCache(), loopLocal: LoopLocalStorage(),
            upstreamPool: UpstreamPool(eventLoop: loop)
        )
        let stage = ResilienceStage()
        if let reply = run([ParseStage(), IdentifyStage(defaults: Attribution()), RouteStage(), stage], call) {
            Issue.record("the stages answered \(reply.status): \(reply.body)")
        }
        #expect(call.target?.name == "primary")
        let source = Pipeline(stages: [stage], terminal: provider).invoke(call)
        #expect(source is AttemptLoop)
        if let deadlineAfterPlanning { call.deadlineNanos = NIODeadline.now().uptimeNanoseconds + deadlineAfterPlanning * 1_000_000 }
        return (call, source)
    }

    /// Opens `target`'s breaker now (the default breaker opens after five failures).
    func openBreaker(of target: ResolvedModel, ago: UInt64 = 0) {
        let now = monotonicMilliseconds() - ago
        for _ in 0..<5 { target.health.record(.failure, admission: .allowed, headMilliseconds: nil, now: now) }
        #expect(target.health.snapshot(now: now).breaker.state != .closed)
    }

    func model(_ call: Call, _ name: String) throws -> ResolvedModel {
        try #require(call.snapshot.modelsByClientName[name])
    }

    func headers(_ call: Call) -> HTTPHeaders {
        var headers = HTTPHeaders()
        ResilienceStage().decorate(call, headers: &headers, trailers: false)
        return headers
    }

    // MARK: Retries

    @Test(retriesTrap) func aRetryableStatusThenSuccessGivesOneAnswer() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 2, backoffMilliseconds: 0), fallbacks: [])
        source.start(sink: sink)
        let first = try #require(provider.attempts.first)
        first.head(503)
        #expect(sink.log.isEmpty, "a retryable status is judged on its head and never relayed")
        #expect(first.cancelled)
        #expect(provider.attempts.count == 2, "a zero backoff retries at once")
        let second = provider.attempts[1]
        second.head(200)
        second.body(#"{"ok":true}"#)
        second.end()
        #expect(sink.log == ["head 200", #"body {"ok":true}"#, "end"])
        #expect(call.attempts.map(\.target.name) == ["primary", "primary"])
        #expect(call.attempts.map(\.outcome) == [.errorStatus, .ok])
        #expect(call.attempts.allSatisfy { $0.endNanos != nil })
        #expect(headers(call).first(name: "x-sluice-attempts") == "2")
        let health = try model(call, "primary").health.snapshot(now: monotonicMilliseconds())
        #expect((health.attempts, health.failures) == (2, 1))
        #expect(try model(call, "primary").provider.health.totals(now: monotonicMilliseconds()) == (calls: 1, retries: 1))
    }

    @Test(retriesTrap) func aRetryWaitsForTheProvidersRetryAfter() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 2), fallbacks: [])
        source.start(sink: sink)
        provider.attempts[0].head(429, headers: [("retry-after-ms", "700")])
        loop.advanceTime(by: .milliseconds(699))
        #expect(provider.attempts.count == 1, "still waiting")
        loop.advanceTime(by: .milliseconds(1))
        #expect(provider.attempts.count == 2)
        provider.attempts[1].head(200)
        provider.attempts[1].end()
        #expect(sink.log == ["head 200", "end"])
        #expect(call.attempts.map(\.outcome) == [.errorStatus, .ok])
    }

    @Test(retriesTrap) func aRetryWaitsAtMostTheFirstBackoffCeiling() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 2, backoffMilliseconds: 250, maxBackoffMilliseconds: 5_000), fallbacks: [])
        source.start(sink: sink)
        provider.attempts[0].fail(.connect)
        loop.advanceTime(by: .milliseconds(250))
        #expect(provider.attempts.count == 2, "full jitter: somewhere in [0, 250] ms")
        #expect(call.attempts.map(\.target.name) == ["primary", "primary"])
        #expect(sink.log.isEmpty)
    }

    @Test(retriesTrap) func anExhaustedRetryableStatusRelaysTheProvidersAnswer() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 2, backoffMilliseconds: 0), fallbacks: [])
        source.start(sink: sink)
        provider.attempts[0].head(503)
        let last = provider.attempts[1]
        last.head(503, headers: [("x-provider-marker", "busy")])
        last.body(#"{"error":{"message":"overloaded, from the provider"}}"#)
        last.end()
        #expect(sink.log == ["head 503", #"body {"error":{"message":"overloaded, from the provider"}}"#, "end"])
        #expect(sink.heads.first?.headers.first(name: "x-provider-marker") == "busy")
        #expect(!last.cancelled)
        #expect(call.attempts.map(\.outcome) == [.errorStatus, .errorStatus])
        let health = try model(call, "primary").health.snapshot(now: monotonicMilliseconds())
        #expect((health.attempts, health.failures) == (2, 2))
    }

    /// When the failure at hand opens the target's breaker, no retry can follow: the
    /// provider's own answer should go to the client (as when retries are used up), and
    /// no retry budget should be spent.
    @Test(retriesTrap) func aRetryableStatusThatOpensTheBreakerIsRelayed() throws {
        let breaker = BreakerSettings(consecutiveFailures: 2, minimumCalls: 1_000, openForMilliseconds: 600_000)
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0), fallbacks: [], breaker: breaker)
        source.start(sink: sink)
        provider.attempts[0].head(503)
        #expect(provider.attempts.count == 2)
        provider.attempts[1].head(503, headers: [("x-provider-marker", "busy")]) // the 2nd failure in a row opens it
        let budget = try model(call, "primary").provider.health
        provider.attempts[1].body("provider body")
        provider.attempts[1].end()
        #expect(sink.log == ["head 503", "body provider body", "end"])
        #expect(budget.totals(now: monotonicMilliseconds()).retries == 1)
        #expect(provider.attempts.count == 2, "no attempt goes to an open breaker")
    }

    @Test(retriesTrap) func aStaleConnectionIsResentAtOnceOnAFreshConnection() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 1), fallbacks: [])
        source.start(sink: sink)
        provider.attempts[0].fail(.closed, unprocessed: true)
        #expect(provider.attempts.count == 2, "one immediate resend, though attempts is 1")
        #expect(provider.freshConnection == [false, true])
        #expect(!call.wantsFreshConnection, "only that resend asks for a fresh connection")
        provider.attempts[1].fail(.closed, unprocessed: true)
        #expect(provider.attempts.count == 2, "only once")
        #expect(sink.failures.map(\.kind) == [.closed])
        #expect(call.attempts.map(\.outcome) == [.closed, .closed])
    }

    /// A request a stale pooled connection lost never reached the provider: it says
    /// nothing about the target. Counted as a failure, a burst of calls on connections the
    /// provider closed while idle opens a healthy target's breaker (five in a row by default).
    @Test(retriesTrap) func aStaleConnectionIsNotTheTargetsFault() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 1), fallbacks: [])
        let primary = try model(call, "primary")
        source.start(sink: sink)
        provider.attempts[0].fail(.closed, unprocessed: true)
        provider.attempts[1].head(200)
        provider.attempts[1].end()
        #expect(sink.log == ["head 200", "end"])
        #expect(primary.health.snapshot(now: monotonicMilliseconds()).failures == 0)
    }

    // MARK: Failover

    @Test func aConnectFailureFailsOverToTheFallback() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 1))
        source.start(sink: sink)
        provider.attempts[0].fail(.connect)
        #expect(provider.attempts.count == 2)
        #expect(sink.log.isEmpty)
        provider.attempts[1].head(200)
        provider.attempts[1].end()
        #expect(sink.log == ["head 200", "end"])
        #expect(call.attempts.map(\.target.name) == ["primary", "backup"])
        #expect(call.attempts.map(\.outcome) == [.connect, .ok])
        #expect(call.target?.name == "backup")
        #expect(try model(call, "primary").health.snapshot(now: monotonicMilliseconds()).failures == 1)
        #expect(try model(call, "backup").health.snapshot(now: monotonicMilliseconds()).attempts == 1)
    }

    @Test func aFullConnectionQueueFailsOverWithoutBlamingTheTarget() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0))
        source.start(sink: sink)
        provider.attempts[0].fail(.connect, code: .overloaded)
        #expect(call.attempts.map(\.target.name) == ["primary", "backup"], "no retry on the same full queue")
        let health = try model(call, "primary").health.snapshot(now: monotonicMilliseconds())
        #expect((health.attempts, health.failures) == (0, 0), "abandoned, not a failure")
    }

    @Test func aStreamThatFailsBeforeItsFirstEventFailsOver() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 1), stream: true)
        source.start(sink: sink)
        provider.attempts[0].head(200, contentType: "text/event-stream")
        #expect(sink.log.isEmpty, "a stream's head is held until its first event")
        provider.attempts[0].fail(.timeout)
        #expect(sink.log.isEmpty)
        #expect(provider.attempts.count == 2)
        let second = provider.attempts[1]
        second.head(200, contentType: "text/event-stream", headers: [("x-attempt", "2")])
        #expect(sink.log.isEmpty)
        second.body("data: {\"n\":1}\n\n")
        #expect(sink.log == ["head 200", "body data: {\"n\":1}\n\n"])
        #expect(sink.heads.count == 1)
        #expect(sink.heads.first?.headers.first(name: "x-attempt") == "2")
        second.end()
        #expect(sink.log.last == "end")
        #expect(call.attempts.map(\.outcome) == [.timeout, .ok])
    }

    @Test func aFailureAfterTheFirstEventIsRelayedNeverRetried() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0), stream: true)
        source.start(sink: sink)
        let only = provider.attempts[0]
        only.head(200, contentType: "text/event-stream")
        only.body("data: one\n\n")
        only.fail(.brokenStream)
        #expect(sink.log == ["head 200", "body data: one\n\n", "fail broken_stream"])
        #expect(provider.attempts.count == 1)
        #expect(call.attempts.map(\.outcome) == [.brokenStream])
        #expect(try model(call, "primary").health.snapshot(now: monotonicMilliseconds()).failures == 1)
        loop.advanceTime(by: .seconds(60))
        #expect(provider.attempts.count == 1)
    }

    @Test func aJSONAnswerIsRelayedFromItsHeadWhenNothingElseCouldAnswer() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0), fallbacks: [])
        source.start(sink: sink)
        provider.attempts[0].head(200)
        #expect(sink.log == ["head 200"])
        provider.attempts[0].fail(.brokenStream)
        #expect(sink.log == ["head 200", "fail broken_stream"])
        #expect(provider.attempts.count == 1)
        #expect(call.attempts.map(\.outcome) == [.brokenStream])
    }

    @Test func aJSONAnswerIsHeldWhileAFallbackCouldAnswerAndABreakFailsOver() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0))
        source.start(sink: sink)
        provider.attempts[0].head(200)
        provider.attempts[0].body("{\"half\":")
        #expect(sink.log.isEmpty) // held: nothing has reached the client
        provider.attempts[0].fail(.brokenStream)
        #expect(provider.attempts.count == 2) // failed over at once, not retried
        #expect(sink.log.isEmpty)
        provider.attempts[1].head(200)
        provider.attempts[1].body("{}")
        provider.attempts[1].end()
        #expect(sink.log == ["head 200", "body {}", "end"])
        #expect(call.attempts.map(\.outcome) == [.brokenStream, .ok])
        #expect(call.attempts.map(\.target.name) == ["primary", "backup"])
    }

    @Test func aClientErrorIsRelayedNotRetried() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3, backoffMilliseconds: 0))
        source.start(sink: sink)
        provider.attempts[0].head(400)
        provider.attempts[0].end()
        #expect(sink.log == ["head 400", "end"])
        #expect(call.attempts.map(\.outcome) == [.clientError])
        #expect(try model(call, "primary").health.snapshot(now: monotonicMilliseconds()).failures == 0)
    }

    // MARK: Breakers

    @Test func anOpenBreakerOnThePrimaryIsSkippedWithoutACall() throws {
        let (call, source) = try makeLoop()
        openBreaker(of: try model(call, "primary"))
        source.start(sink: sink)
        #expect(provider.attempts.count == 1)
        #expect(call.attempts.map(\.target.name) == ["backup"])
        provider.attempts[0].head(200)
        provider.attempts[0].end()
        #expect(sink.log == ["head 200", "end"])
        #expect(try model(call, "primary").health.snapshot(now: monotonicMilliseconds()).attempts == 5, "only the five that opened it")
    }

    @Test func everyBreakerOpenIsNoHealthyUpstream() throws {
        let (call, source) = try makeLoop()
        openBreaker(of: try model(call, "primary"))
        openBreaker(of: try model(call, "backup"))
        source.start(sink: sink)
        #expect(provider.attempts.isEmpty)
        #expect(sink.failures.map(\.code) == [.noHealthyUpstream])
        #expect(sink.log.count == 1)
    }

    @Test func aCancelledProbeFreesItsSlot() throws {
        let (call, source) = try makeLoop(fallbacks: [])
        let primary = try model(call, "primary")
        openBreaker(of: primary, ago: 60_000) // open for 30 s, 60 s ago: due for a probe
        source.start(sink: sink)
        #expect(primary.health.snapshot(now: monotonicMilliseconds()).breaker.state == .halfOpen(inFlight: 1, succeeded: 0))
        source.cancel()
        #expect(provider.attempts[0].cancelled)
        #expect(call.attempts.map(\.outcome) == [.cancelled])
        #expect(primary.health.snapshot(now: monotonicMilliseconds()).breaker.state == .halfOpen(inFlight: 0, succeeded: 0))
        #expect(sink.log.isEmpty)
    }

    @Test func aSuccessfulProbeClosesTheBreaker() throws {
        let (call, source) = try makeLoop(fallbacks: [])
        let primary = try model(call, "primary")
        openBreaker(of: primary, ago: 60_000)
        source.start(sink: sink)
        provider.attempts[0].head(200)
        provider.attempts[0].end()
        #expect(primary.health.snapshot(now: monotonicMilliseconds()).breaker.state == .closed)
    }

    /// `countsAgainstBreaker` says a 408 or 409 "says nothing" about the target, yet the
    /// loop reports it to the breaker as a success: a half-open breaker closes on it.
    @Test func aConflictSaysNothingAboutTheTarget() throws {
        let (call, source) = try makeLoop(fallbacks: [])
        let primary = try model(call, "primary")
        openBreaker(of: primary, ago: 60_000)
        source.start(sink: sink)
        provider.attempts[0].head(409)
        provider.attempts[0].end()
        #expect(sink.log == ["head 409", "end"], "nothing else to try: the provider's answer is relayed")
        #expect(primary.health.snapshot(now: monotonicMilliseconds()).breaker.state == .halfOpen(inFlight: 0, succeeded: 0))
    }

    // MARK: Deadline and cancel

    @Test func theDeadlineDuringAnAttemptEndsTheCallWithATimeout() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3), total: 2_000)
        source.start(sink: sink)
        loop.advanceTime(by: .milliseconds(2_000))
        #expect(provider.attempts[0].cancelled)
        #expect(sink.failures.map(\.kind) == [.timeout])
        #expect(sink.log.count == 1)
        #expect(call.attempts.map(\.outcome) == [.timeout])
        #expect(provider.attempts.count == 1)
        let health = try model(call, "primary").health.snapshot(now: monotonicMilliseconds())
        #expect((health.attempts, health.failures) == (0, 0), "the deadline is the call's, not the target's fault")
    }

    /// The planner never plans a wait that outlives the deadline it knows; the deadline
    /// here is set after the planner was made, so the wait outlives it as it would if the
    /// timer fired late.
    @Test(retriesTrap) func theDeadlineDuringBackoffEndsTheCallWithATimeout() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3), deadlineAfterPlanning: 2_000)
        source.start(sink: sink)
        provider.attempts[0].head(503, headers: [("retry-after-ms", "4000")])
        #expect(provider.attempts[0].cancelled)
        loop.advanceTime(by: .milliseconds(2_000))
        #expect(sink.failures.map(\.kind) == [.timeout])
        loop.advanceTime(by: .milliseconds(10_000))
        #expect(provider.attempts.count == 1, "the wait ended with the call")
        #expect(sink.log.count == 1)
        #expect(call.attempts.map(\.outcome) == [.errorStatus])
    }

    @Test func theDeadlineWithAStaticFallbackAnswersFromIt() throws {
        let (call, source) = try makeLoop(total: 2_000, fallbackReply: "Please try again later.")
        source.start(sink: sink)
        loop.advanceTime(by: .milliseconds(2_000))
        #expect(sink.heads.first?.headers.first(name: "x-sluice-fallback") == "static")
        #expect(sink.log.last == "end")
        #expect(call.fallback == "static")
    }

    @Test(retriesTrap) func cancelDuringBackoffStopsEverything() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 3), total: 60_000)
        source.start(sink: sink)
        provider.attempts[0].head(503, headers: [("retry-after-ms", "1000")])
        source.cancel()
        loop.advanceTime(by: .seconds(120)) // past the wait and the deadline
        #expect(provider.attempts.count == 1)
        #expect(sink.log.isEmpty)
        #expect(call.attempts.map(\.outcome) == [.errorStatus])
    }

    @Test func cancelDuringARelayedAnswerCancelsItAndSaysNothing() throws {
        let (call, source) = try makeLoop(stream: true)
        source.start(sink: sink)
        provider.attempts[0].head(200, contentType: "text/event-stream")
        provider.attempts[0].body("data: x\n\n")
        source.cancel()
        #expect(provider.attempts[0].cancelled)
        #expect(sink.log == ["head 200", "body data: x\n\n"])
        #expect(call.attempts.map(\.outcome) == [.cancelled])
    }

    // MARK: Judging a head

    @Test func retryableStatusesAndWhichOnesBlameTheTarget() {
        let retryable = (100...599).filter { AttemptLoop.isRetryable(status: $0) }
        #expect(retryable == [408, 409, 429, 500, 502, 503, 504, 529])
        #expect(retryable.filter { AttemptLoop.countsAgainstBreaker(status: $0) } == [429, 500, 502, 503, 504, 529])
    }

    @Test func retryAfterHeaders() {
        func wait(_ fields: [(String, String)]) -> UInt64? { AttemptLoop.retryAfter(HTTPHeaders(fields)) }
        #expect(wait([("retry-after-ms", "250")]) == 250)
        #expect(wait([("retry-after", "2")]) == 2_000)
        #expect(wait([("retry-after", " 1.5 ")]) == 1_500)
        #expect(wait([("retry-after", "3"), ("retry-after-ms", "40")]) == 40, "the precise one wins")
        #expect(wait([("retry-after-ms", "soon"), ("retry-after", "1")]) == 1_000)
        #expect(wait([("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]) == nil, "a date falls back to the backoff")
        #expect(wait([("retry-after", "-1")]) == nil)
        #expect(wait([("retry-after", "86400")]) == nil, "a day or more is not a retry")
        #expect(wait([("retry-after", "86399")]) == 86_399_000)
        #expect(wait([]) == nil)
    }

    // MARK: Last resort

    @Test func aStaticFallbackAnswersWhenEveryTargetFails() throws {
        let (call, source) = try makeLoop(retry: RetrySettings(attempts: 1), fallbackReply: "Please try again later.")
        source.start(sink: sink)
        provider.attempts[0].fail(.connect)
        provider.attempts[1].head(503)
        #expect(provider.attempts[1].cancelled)
        #expect(sink.heads.count == 1)
        let head = try #require(sink.heads.first)
        #expect(head.status == .ok)
        #expect(head.headers.first(name: "x-sluice-fallback") == "static")
        #expect(sink.body.contains(#""content":"Please try again later.""#))
        #expect(sink.body.contains(#""object":"chat.completion""#))
        #expect(sink.log.last == "end")
        #expect(call.fallback == "static")
        #expect(call.attempts.map(\.outcome) == [.connect, .errorStatus])
    }

    @Test func aStaticFallbackStreamsWhenTheClientAskedForAStream() throws {
        let (_, source) = try makeLoop(retry: RetrySettings(attempts: 1), fallbacks: [], fallbackReply: "Later.", stream: true)
        source.start(sink: sink)
        provider.attempts[0].fail(.timeout)
        #expect(sink.heads.first?.headers.first(name: "content-type") == "text/event-stream")
        #expect(sink.body.hasSuffix("data: [DONE]\n\n"))
        #expect(sink.log.last == "end")
    }
}

/// One scripted upstream attempt: the test plays the provider, the loop is its sink.
private final class LoopScriptedAttempt: ResponseSource {
    let call: Call
    let index: Int
    weak var sink: (any ResponseSink)?
    var started = 0
    var cancelled = false

    init(call: Call, index: Int) {
        self.call = call
        self.index = index
    }

    func start(sink: any ResponseSink) {
        started += 1
        self.sink = sink
    }

    func setDemand(_ wanted: Bool) {}

    /// As the contract says: nothing more reaches the sink after a cancel.
    func cancel() {
        cancelled = true
        sink = nil
    }

    /// The provider's head, recorded on the attempt as the upstream exchange does.
    func head(_ status: Int, contentType: String = "application/json", headers: [(String, String)] = []) {
        call.attempts[index].status = status
        var fields = HTTPHeaders([("content-type", contentType)])
        fields.add(contentsOf: headers)
        sink?.sourceDidEmitHead(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields))
    }

    func body(_ text: String) {
        var buffer = ByteBuffer()
        buffer.writeString(text)
        sink?.sourceDidEmitBody(buffer)
    }

    func end() { sink?.sourceDidEnd() }

    func fail(_ kind: UpstreamFailureKind, code: SluiceErrorCode? = nil, unprocessed: Bool = false) {
        call.attempts[index].failure = kind
        sink?.sourceDidFail(ResponseFailure(kind: kind, detail: "scripted \(kind.rawValue)", code: code, requestUnprocessed: unprocessed))
    }
}

/// The terminal step: records an attempt on the call (as the upstream call does) and hands
/// out a scripted source for it.
private final class LoopScriptedProvider: CallTerminal, @unchecked Sendable {
    var attempts: [LoopScriptedAttempt] = []
    /// `call.wantsFreshConnection` as each attempt saw it.
    var freshConnection: [Bool] = []

    func source(for call: Call) -> any ResponseSource {
        guard let target = call.target else {
            return LocalReplySource(.error(.internalError, "no target", family: call.family))
        }
        call.attempts.append(Attempt(target: target, startNanos: NIODeadline.now().uptimeNanoseconds))
        freshConnection.append(call.wantsFreshConnection)
        let attempt = LoopScriptedAttempt(call: call, index: call.attempts.count - 1)
        attempts.append(attempt)
        return attempt
    }
}

/// What the client would get, in order.
private final class LoopRecordingSink: ResponseSink {
    var log: [String] = []
    var heads: [HTTPResponseHead] = []
    var body = ""
    var failures: [ResponseFailure] = []

    func sourceDidEmitHead(_ head: HTTPResponseHead) {
        heads.append(head)
        log.append("head \(head.status.code)")
    }

    func sourceDidEmitBody(_ part: ByteBuffer) {
        body += String(buffer: part)
        log.append("body \(String(buffer: part))")
    }

    func sourceDidEnd() { log.append("end") }

    func sourceDidFail(_ failure: ResponseFailure) {
        failures.append(failure)
        log.append("fail \(failure.kind.rawValue)")
    }
}
