/// Reads and writes the policy's durations: a number and a unit (`250ms`, `1.5s`, `2m`,
/// `1h`), stored as whole milliseconds.
///
/// A bare YAML integer means seconds; the decoder handles that case and calls
/// ``milliseconds(seconds:)``.
enum DurationText {
    /// The longest duration the policy accepts: 24 hours, in milliseconds.
    static let maximumMilliseconds = 86_400_000

    /// Why a text is not an acceptable duration.
    enum Problem: Error, Equatable {
        /// Not a number followed by one of the units.
        case malformed
        /// Zero or negative.
        case notPositive
        /// Not a whole number of milliseconds (`1.5ms`, `0.0001s`).
        case fractionalMilliseconds
        /// Longer than ``DurationText/maximumMilliseconds``.
        case tooLong
    }

    /// Milliseconds per unit, longest suffix first so that `ms` is not read as `m`.
    private static let units: [(suffix: String, milliseconds: Int)] = [
        ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
    ]

    /// The milliseconds `text` stands for, or why it stands for none.
    static func milliseconds(in text: String) -> Result<Int, Problem> {
        var rest = Substring(text)
        var negative = false
        if rest.hasPrefix("-") || rest.hasPrefix("+") {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        guard let unit = units.first(where: { rest.hasSuffix($0.suffix) }) else { return .failure(.malformed) }
        let number = rest.dropLast(unit.suffix.count)
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !whole.isEmpty, isDigits(whole), parts.count == 1 || (!fraction.isEmpty && isDigits(fraction)) else {
            return .failure(.malformed)
        }
        if negative { return .failure(.notPositive) }

        let wholeDigits = whole.drop { $0 == "0" }
        let fractionDigits = fraction.reversed().drop { $0 == "0" }.reversed()
        // More digits than these cannot be a duration up to 24h in whole milliseconds.
        guard wholeDigits.count <= 12 else { return .failure(.tooLong) }
        guard fractionDigits.count <= 9 else { return .failure(.fractionalMilliseconds) }
        let wholeValue = Int(String(wholeDigits)) ?? 0
        let fractionValue = Int(String(fractionDigits)) ?? 0
        var scale = 1
        for _ in fractionDigits { scale *= 10 }
        let fractionMilliseconds = fractionValue * unit.milliseconds
        guard fractionMilliseconds % scale == 0 else { return .failure(.fractionalMilliseconds) }
        let total = wholeValue * unit.milliseconds + fractionMilliseconds / scale
        guard total > 0 else { return .failure(.notPositive) }
        guard total <= maximumMilliseconds else { return .failure(.tooLong) }
        return .success(total)
    }

    /// The milliseconds in a bare number of seconds.
    static func milliseconds(seconds: Int) -> Result<Int, Problem> {
        guard seconds > 0 else { return .failure(.notPositive) }
        guard seconds <= maximumMilliseconds / 1_000 else { return .failure(.tooLong) }
        return .success(seconds * 1_000)
    }

    /// `milliseconds` written the way an operator would: `2h`, `5m`, `30s`, `250ms`, `1500ms`.
    static func text(milliseconds: Int) -> String {
        for unit in units.reversed() where unit.milliseconds > 1 && milliseconds % unit.milliseconds == 0 && milliseconds != 0 {
            return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
        }
        return "\(milliseconds)ms"
    }

    private static func isDigits(_ text: Substring) -> Bool {
        text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
