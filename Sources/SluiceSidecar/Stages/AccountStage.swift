import NIOHTTP1
import SluicePolicy
import SluiceWire

/// Account: prices the call's token usage from the snapshot's price table and reports it
/// in `x-sluice-cost-usd` (a header for JSON answers, a trailer for streams where the
/// protocol allows; always in the access log).
public struct AccountStage: CallStage {
    public let name = "account"
    public var finishesEveryCall: Bool { true }

    public init() {}

    public func enter(_ call: Call) -> StageDecision { .next }

    public func decorate(_ call: Call, headers: inout HTTPHeaders, trailers: Bool) {
        price(call)
        guard let cost = call.costUSD else { return }
        // Streams: the head goes out before usage is known, so the cost rides the trailer.
        if trailers || !call.streamed {
            headers.add(name: "x-sluice-cost-usd", value: AccountStage.format(cost))
        }
    }

    public func finish(_ call: Call) {
        price(call)
    }

    /// The answer's usage at the serving model's prices, plus each abandoned attempt's
    /// usage at its own model's prices.
    private func price(_ call: Call) {
        guard call.costUSD == nil else { return }
        var total: Double?
        if let usage = call.usage, let model = call.target {
            total = AccountStage.cost(of: usage, at: model.prices)
        }
        for attempt in call.attempts {
            guard let usage = attempt.usage else { continue }
            total = (total ?? 0) + AccountStage.cost(of: usage, at: attempt.target.prices)
        }
        call.costUSD = total
    }

    /// USD for `usage` at `prices` (per million tokens).
    public static func cost(of usage: TokenUsage, at prices: Prices) -> Double {
        (Double(usage.uncachedInputTokens) * prices.input
            + Double(usage.cachedInputTokens) * prices.cachedInput
            + Double(usage.outputTokens) * prices.output) / 1_000_000
    }

    /// Fixed-point text with up to 10 decimals, e.g. `0.000123`.
    public static func format(_ cost: Double) -> String {
        guard cost.isFinite, cost > 0 else { return "0" }
        let scaled = (cost * 1e10).rounded()
        guard scaled < 9e18 else { return String(cost) }
        var units = UInt64(scaled)
        guard units > 0 else { return "0" }
        // Ten fractional digits, written right to left, trailing zeros dropped.
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 32)
        var end = digits.count
        var position = digits.count
        var fractionDigits = 0
        var significant = false
        while fractionDigits < 10 {
            let digit = UInt8(units % 10)
            units /= 10
            fractionDigits += 1
            if digit != 0 || significant {
                significant = true
                position -= 1
                digits[position] = UInt8(ascii: "0") + digit
            } else {
                end -= 1
                position -= 1
            }
        }
        if significant {
            position -= 1
            digits[position] = UInt8(ascii: ".")
        }
        repeat {
            position -= 1
            digits[position] = UInt8(ascii: "0") + UInt8(units % 10)
            units /= 10
        } while units > 0
        return String(decoding: digits[position..<end], as: UTF8.self)
    }
}
