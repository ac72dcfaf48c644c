import Foundation

/// A DEFLATE (RFC 1951) decoder, Foundation only: Apple's Compression framework is not on
/// Linux, where this core is tested too. It follows zlib's reference decoder `puff.c` (Mark
/// Adler): canonical Huffman codes decoded a bit at a time, which is short and easy to check
/// rather than fast; a camkit sample is a few megabytes at most.
public enum Inflate {
    /// The bytes `input` (a raw deflate stream, as in a zip entry) decodes to.
    public static func inflate(_ input: [UInt8], expectedCount: Int? = nil) throws -> [UInt8] {
        var state = State(input: input)
        if let expectedCount { state.output.reserveCapacity(expectedCount) }
        var last = false
        while !last {
            last = try state.bits(1) == 1
            switch try state.bits(2) {
            case 0: try state.stored()
            case 1: try state.codes(Fixed.lengths, Fixed.distances)
            case 2: try state.dynamic()
            default: throw CamkitError("deflate data has an invalid block type; the file is damaged")
            }
        }
        return state.output
    }

    /// Base lengths and extra bits of length symbols 257...285, base distances and extra bits
    /// of distance symbols 0...29 (RFC 1951 3.2.5).
    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                             35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                              3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                               257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                               8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// The order code-length code lengths come in (RFC 1951 3.2.7).
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// A canonical Huffman code: how many codes of each length 0...15, and the symbols ordered
    /// by code.
    struct Huffman {
        var count = [Int](repeating: 0, count: 16)
        var symbol: [Int]

        /// The code of symbol lengths `lengths` (0: the symbol is unused).
        init(_ lengths: [Int]) throws {
            symbol = [Int](repeating: 0, count: lengths.count)
            for length in lengths { count[length] += 1 }
            var left = 1
            for length in 1..<16 {
                left = left * 2 - count[length]
                if left < 0 { throw CamkitError("deflate data has an over-subscribed code; the file is damaged") }
            }
            var offsets = [Int](repeating: 0, count: 16)
            for length in 1..<15 { offsets[length + 1] = offsets[length] + count[length] }
            for (s, length) in lengths.enumerated() where length != 0 {
                symbol[offsets[length]] = s
                offsets[length] += 1
            }
        }
    }

    /// The fixed codes of block type 1 (RFC 1951 3.2.6).
    enum Fixed {
        static let lengths: Huffman = {
            let lengths = [Int](repeating: 8, count: 144) + [Int](repeating: 9, count: 112)
                + [Int](repeating: 7, count: 24) + [Int](repeating: 8, count: 8)
            return try! Huffman(lengths)
        }()
        static let distances: Huffman = try! Huffman([Int](repeating: 5, count: 30))
    }

    struct State {
        let input: [UInt8]
        var position = 0
        var bitBuffer = 0
        var bitCount = 0
        var output: [UInt8] = []

        init(input: [UInt8]) {
            self.input = input
        }

        /// The next `need` bits, least significant first.
        mutating func bits(_ need: Int) throws -> Int {
            var value = bitBuffer
            while bitCount < need {
                guard position < input.count else {
                    throw CamkitError("deflate data ends early; the file is truncated")
                }
                value |= Int(input[position]) << bitCount
                position += 1
                bitCount += 8
            }
            bitBuffer = value >> need
            bitCount -= need
            return value & ((1 << need) - 1)
        }

        /// A stored block: the rest of the byte skipped, LEN, NLEN, LEN bytes.
        mutating func stored() throws {
            bitBuffer = 0
            bitCount = 0
            guard position + 4 <= input.count else { throw CamkitError("deflate data ends early; the file is truncated") }
            let length = Int(input[position]) | Int(input[position + 1]) << 8
            let complement = Int(input[position + 2]) | Int(input[position + 3]) << 8
            position += 4
            guard length == ~complement & 0xFFFF else {
                throw CamkitError("deflate stored block has a bad length; the file is damaged")
            }
            guard position + length <= input.count else { throw CamkitError("deflate data ends early; the file is truncated") }
            output.append(contentsOf: input[position..<position + length])
            position += length
        }

        /// One symbol of `code`, read a bit at a time (codes are packed most significant bit first).
        mutating func decode(_ code: Huffman) throws -> Int {
            var value = 0
            var first = 0
            var index = 0
            for length in 1..<16 {
                value |= try bits(1)
                let count = code.count[length]
                if value - count < first { return code.symbol[index + (value - first)] }
                index += count
                first = (first + count) << 1
                value <<= 1
            }
            throw CamkitError("deflate data holds a code that is not in its table; the file is damaged")
        }

        /// Literals and length/distance pairs until the end-of-block symbol.
        mutating func codes(_ lengths: Huffman, _ distances: Huffman) throws {
            while true {
                var symbol = try decode(lengths)
                if symbol < 256 {
                    output.append(UInt8(symbol))
                    continue
                }
                if symbol == 256 { return }
                symbol -= 257
                guard symbol < 29 else { throw CamkitError("deflate data has an invalid length code; the file is damaged") }
                let length = try Inflate.lengthBase[symbol] + bits(Inflate.lengthExtra[symbol])
                let d = try decode(distances)
                guard d < 30 else { throw CamkitError("deflate data has an invalid distance code; the file is damaged") }
                let distance = try Inflate.distanceBase[d] + bits(Inflate.distanceExtra[d])
                guard distance <= output.count else {
                    throw CamkitError("deflate data refers back past its start; the file is damaged")
                }
                let from = output.count - distance
                for i in 0..<length { output.append(output[from + i]) }  // may overlap what it writes
            }
        }

        /// A block with its own codes, themselves sent as code lengths (RFC 1951 3.2.7).
        mutating func dynamic() throws {
            let literalCount = try bits(5) + 257
            let distanceCount = try bits(5) + 1
            let codeLengthCount = try bits(4) + 4
            guard literalCount <= 286 && distanceCount <= 30 else {
                throw CamkitError("deflate data has too many codes; the file is damaged")
            }
            var codeLengths = [Int](repeating: 0, count: 19)
            for i in 0..<codeLengthCount { codeLengths[Inflate.codeLengthOrder[i]] = try bits(3) }
            let lengthCode = try Huffman(codeLengths)
            var lengths: [Int] = []
            while lengths.count < literalCount + distanceCount {
                let symbol = try decode(lengthCode)
                var repeated = 0
                var times = 0
                switch symbol {
                case 0..<16:
                    lengths.append(symbol)
                    continue
                case 16:
                    guard let previous = lengths.last else {
                        throw CamkitError("deflate data repeats a code length before the first; the file is damaged")
                    }
                    repeated = previous
                    times = try 3 + bits(2)
                case 17:
                    times = try 3 + bits(3)
                default:
                    times = try 11 + bits(7)
                }
                guard lengths.count + times <= literalCount + distanceCount else {
                    throw CamkitError("deflate data has too many code lengths; the file is damaged")
                }
                lengths += [Int](repeating: repeated, count: times)
            }
            guard lengths[256] != 0 else { throw CamkitError("deflate block has no end code; the file is damaged") }
            let literals = try Huffman(Array(lengths[0..<literalCount]))
            let distances = try Huffman(Array(lengths[literalCount...]))
            try codes(literals, distances)
        }
    }
}

/// CRC-32 (ISO 3309, as zip uses it).
public enum Crc32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    public static func of(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
