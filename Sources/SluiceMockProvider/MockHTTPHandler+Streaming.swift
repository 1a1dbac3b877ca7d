import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A streamed response in progress on one connection.
final class StreamJob {
    let script: StreamScript
    var next = 0
    /// When content event 0 is due.
    let contentStart: NIODeadline
    /// Spacing of content events; nil = as fast as possible.
    let interval: TimeAmount?
    /// Stop (hang or reset) instead of writing this event index.
    let stopAt: Int?
    let stopIsReset: Bool
    var waitingForWritability = false

    init(script: StreamScript, contentStart: NIODeadline, interval: TimeAmount?, stopAt: Int?, stopIsReset: Bool) {
        self.script = script
        self.contentStart = contentStart
        self.interval = interval
        self.stopAt = stopAt
        self.stopIsReset = stopIsReset
    }

    /// Timer granularity: deadlines are rounded up to it so that the events of many streams due
    /// around the same time share one event-loop wake-up.
    static let granularityNanoseconds: UInt64 = 1_000_000

    /// When event `index` is due; nil = now.
    func due(_ index: Int) -> NIODeadline? {
        let preamble = self.script.preambleCount
        if index < preamble { return nil }
        guard let interval = self.interval else { return self.contentStart }
        let content = min(index - preamble, max(0, self.script.contentCount - 1))
        let exact = self.contentStart + .nanoseconds(interval.nanoseconds &* Int64(content))
        let granularity = Self.granularityNanoseconds
        let rounded = (exact.uptimeNanoseconds / granularity &+ 1) &* granularity
        return .uptimeNanoseconds(rounded)
    }
}

/// Streamed answers: the script's events written on their schedule, with backpressure.
extension MockHTTPHandler {
    func startStream(context: ChannelHandlerContext, plan: GenerationPlan, overrides: MockOverrides, midStopIsReset: Bool?) {
        let script = StreamScript(plan: plan, allocator: context.channel.allocator)
        var headers = self.responseHeaders(contentType: "text/event-stream; charset=utf-8", flavor: plan.endpoint.flavor)
        headers.add(name: "cache-control", value: "no-cache")
        if self.httpVersion.major == 1 && self.httpVersion.minor == 0 {
            // No chunked encoding in HTTP/1.0: the body ends when the connection closes.
            self.keepAlive = false
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        self.recorder.recordStatus(200, model: plan.model)
        let head = HTTPResponseHead(version: self.httpVersion, status: .ok, headers: headers)
        context.writeAndFlush(self.wrapOutboundOut(.head(head)), promise: nil)

        let ttft = overrides.timeToFirstTokenMilliseconds ?? self.configuration.timeToFirstTokenMilliseconds
        let tps = overrides.tokensPerSecond ?? self.configuration.tokensPerSecond
        let interval: TimeAmount? = tps > 0 ? .nanoseconds(Int64(max(1, min(1e9 / tps, 3.6e12)))) : nil
        var stopAt: Int?
        if midStopIsReset != nil {
            let content = script.contentCount
            stopAt = script.preambleCount + (content == 0 ? 0 : max(1, content / 2))
        }
        self.job = StreamJob(
            script: script,
            contentStart: .now() + .milliseconds(Int64(max(0, ttft))),
            interval: interval,
            stopAt: stopAt,
            stopIsReset: midStopIsReset ?? false
        )
        self.pump(context: context)
    }

    /// Writes every event that is due, flushing each; schedules itself for the next one.
    func pump(context: ChannelHandlerContext) {
        guard let job = self.job else { return }
        let script = job.script
        let allocator = context.channel.allocator
        var written = 0
        var uncounted = 0
        defer { self.recorder.addStreamedEvents(uncounted) }
        var now = NIODeadline.now()
        while job.next < script.total {
            guard self.job === job, context.channel.isActive else { return }
            if let stopAt = job.stopAt, job.next >= stopAt {
                self.recorder.addStreamedEvents(uncounted)
                uncounted = 0
                self.midStop(context: context, isReset: job.stopIsReset)
                return
            }
            if let due = job.due(job.next), due > now {
                now = NIODeadline.now()
                if due > now {
                    self.schedule(context: context, at: due) { [self] in self.pump(context: context) }
                    return
                }
            }
            if !context.channel.isWritable {
                job.waitingForWritability = true
                return
            }
            if written >= Self.eventsPerTick {
                let generation = self.generation
                context.eventLoop.assumeIsolated().execute { [self] in
                    guard self.generation == generation else { return }
                    self.pump(context: context)
                }
                return
            }
            let index = job.next
            job.next += 1
            written += 1
            if let change = script.usageChange(at: index) {
                self.recorder.recordSentUsage(model: script.plan.model, change: change)
            }
            if index == script.total - 1 {
                // Count before the last byte leaves, so a client that saw the end sees the stats.
                self.recorder.recordCompletion(model: script.plan.model, usage: script.plan.reportedUsage, streamedEvents: uncounted + 1)
                uncounted = 0
            } else {
                uncounted += 1
            }
            context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(script.event(index, allocator: allocator)))), promise: nil)
        }
        guard self.job === job else { return }
        self.job = nil
        self.finishResponse(context: context)
    }
}
