import Foundation
import NIOCore
import NIOHTTP1

/// `x-mock-*` request headers: per-request overrides of the configuration.
struct MockOverrides: Sendable {
    enum Point: Sendable {
        case head
        case mid
    }

    var latencyMilliseconds: Int?
    var timeToFirstTokenMilliseconds: Int?
    var tokensPerSecond: Double?
    var outputTokens: Int?
    var cachedTokens: Int?
    var status: Int?
    var hang: Point?
    var reset: Point?
    /// Headers an error answer carries instead of the configured `Retry-After` (scripted faults).
    var retryHeaders: [(String, String)]?
    /// Added to the latency (a scripted `ttft_ms` on a response that is not streamed).
    var extraLatencyMilliseconds = 0

    init(_ headers: HTTPHeaders) {
        func int(_ name: String) -> Int? {
            headers.first(name: name).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max(0, $0) }
        }
        self.latencyMilliseconds = int("x-mock-latency-ms")
        self.timeToFirstTokenMilliseconds = int("x-mock-ttft-ms")
        self.tokensPerSecond = headers.first(name: "x-mock-tps")
            .flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            .flatMap { $0.isFinite && $0 >= 0 ? $0 : nil }
        self.outputTokens = int("x-mock-output-tokens")
        self.cachedTokens = int("x-mock-cached-tokens")
        if let status = int("x-mock-status"), (400...599).contains(status) {
            self.status = status
        }
        switch headers.first(name: "x-mock-hang")?.lowercased() {
        case "head": self.hang = .head
        case "mid": self.hang = .mid
        default: self.hang = nil
        }
        switch headers.first(name: "x-mock-reset")?.lowercased() {
        case "before", "head": self.reset = .head
        case "mid": self.reset = .mid
        default: self.reset = nil
        }
    }

    /// Lays a scripted fault over the headers' overrides: each field it sets wins. A `ttft_ms`
    /// also delays the head of a response that is not streamed (its first token is all of it).
    mutating func apply(_ fault: MockFault, streaming: Bool) {
        if let status = fault.status {
            self.status = status
            self.retryHeaders = fault.retryHeaders
        }
        if let hang = fault.hang { self.hang = hang == .head ? .head : .mid }
        if let reset = fault.reset { self.reset = reset == .head ? .head : .mid }
        if let latency = fault.latencyMilliseconds { self.latencyMilliseconds = latency }
        if let ttft = fault.timeToFirstTokenMilliseconds {
            if streaming {
                self.timeToFirstTokenMilliseconds = ttft
            } else {
                self.extraLatencyMilliseconds += ttft
            }
        }
    }
}
