import Foundation

/// Tiles of ``tileH`` x ``tileW`` (the artifact's input), ``margin`` px discarded at interior
/// tile edges, ``blend`` px of linear cross-fade after them; origins on multiples of ``align``
/// (toolkit/fullres.py `TilePlan`).
public struct TilePlan: Equatable {
    public let tileH: Int
    public let tileW: Int
    public let margin: Int
    public let blend: Int
    public let align: Int

    public init(tileH: Int, tileW: Int, margin: Int, blend: Int, align: Int = 1) throws {
        self.tileH = tileH
        self.tileW = tileW
        self.margin = margin
        self.blend = blend
        self.align = align
        try ensure(align >= 1 && tileH % align == 0 && tileW % align == 0,
                   "tile \(tileH)x\(tileW) must be a multiple of the size multiple \(align); re-export")
        try ensure(margin >= 0 && blend >= 1, "tile margin must be >= 0 and blend >= 1, got \(margin), \(blend)")
        try ensure(min(tileH, tileW) > 2 * overlap,
                   "a \(tileH)x\(tileW) tile is too small for margin \(margin) and blend \(blend); re-export a larger size")
    }

    /// Pixels two neighbouring tiles share: 2 margin + blend.
    public var overlap: Int { 2 * margin + blend }
}

/// One thumbnail input of a split (`full_resolution.thumbnails[]`): ``input`` is the thumbnail
/// of ``of``, ``height`` x ``width``, made by ``resize`` ("mosaic" with ``cells``, or
/// "adaptive_average").
public struct ThumbnailEntry: Equatable {
    public let input: String
    public let of: String
    public let height: Int
    public let width: Int
    public let resize: String
    public let cells: Int?
}

/// A split by tiles' statistics pass (`full_resolution.statistics`): the features artifact runs
/// over the photo by tiles of ``tileH`` x ``tileW`` (zeros past the photo), origins ``stepH`` /
/// ``stepW`` apart; its features (stride ``stride``, receptive field ``before`` / ``after`` px
/// around each anchor) are averaged into the input ``into`` names. ``artifactInputs`` /
/// ``artifactOutputs``: the features artifact's io (nil when the plan does not name it: NHWC
/// float32 then).
public struct StatisticsEntry: Equatable {
    public let inputs: [String]
    public let into: [String: String]
    public let output: String
    public let tileH: Int
    public let tileW: Int
    public let stride: Int
    public let before: Int
    public let after: Int
    public let stepH: Int
    public let stepW: Int
    public let artifactFile: String?
    public let artifactSha256: String?
    public let artifactInputs: [TensorIo]?
    public let artifactOutputs: [TensorIo]?
}

/// A manifest's `full_resolution` block. ``strategy``: "tiles" or "split" (``tiles`` set, plus
/// ``thumbnails`` or ``statistics`` for a split), "whole" (a dynamic artifact: the photo at its
/// own size, reflected up to ``sizeMultiple``), or "resize" (lossy: to ``resizeTo`` and back).
/// A ``version`` this app does not know is kept as read and refused by ``FullResolution``.
public struct FullResolutionPlan: Equatable {
    /// The plan version this core runs.
    public static let supportedVersion = 1

    public let version: Int
    public let strategy: String
    public var tiles: TilePlan? = nil
    public var thumbnails: [ThumbnailEntry] = []
    public var statistics: StatisticsEntry? = nil
    public var sizeMultiple: Int? = nil
    public var resizeTo: [Int]? = nil

    /// Parses `json` (a `full_resolution` block, as in `plan.json` of the fixtures).
    public static func parse(json: Data, where name: String = "full_resolution") throws -> FullResolutionPlan {
        try JsonDecoding.decode(FullResolutionPlan.self, from: json, where: name)
    }
}

extension FullResolutionPlan: Decodable {
    private enum Keys: String, CodingKey {
        case version, strategy, tile, margin, blend, align, thumbnails, statistics, size
        case sizeMultiple = "size_multiple"
    }

    private enum ThumbnailKeys: String, CodingKey {
        case input, of, size, resize, cells
    }

    private enum StatisticsKeys: String, CodingKey {
        case inputs, into, output, tile, stride, before, after, step, artifact
    }

    private enum ArtifactKeys: String, CodingKey {
        case file, sha256, io
    }

    /// The `full_resolution` object of the manifest being decoded (Kotlin core: `parse`).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let at = "\(decoder.camkitWhere) full_resolution"
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? -1
        strategy = try c.decodeIfPresent(String.self, forKey: .strategy) ?? "unknown"
        guard version == FullResolutionPlan.supportedVersion else { return }
        switch strategy {
        case "tiles", "split":
            let tile = try c.decode([Int].self, forKey: .tile)
            try ensure(tile.count == 2, "\(at): 'tile' must be [height, width], got \(tile)")
            tiles = try TilePlan(tileH: tile[0], tileW: tile[1], margin: c.decode(Int.self, forKey: .margin),
                                 blend: c.decode(Int.self, forKey: .blend),
                                 align: c.decodeIfPresent(Int.self, forKey: .align) ?? 1)
            if c.contains(.thumbnails), try !c.decodeNil(forKey: .thumbnails) {
                var list = try c.nestedUnkeyedContainer(forKey: .thumbnails)
                while !list.isAtEnd {
                    thumbnails.append(try FullResolutionPlan.thumbnail(list.nestedContainer(keyedBy: ThumbnailKeys.self), at))
                }
            }
            if c.contains(.statistics), try !c.decodeNil(forKey: .statistics) {
                statistics = try FullResolutionPlan.statistics(c.nestedContainer(keyedBy: StatisticsKeys.self, forKey: .statistics),
                                                               "\(at) statistics")
            }
        case "whole":
            sizeMultiple = try c.decodeIfPresent(Int.self, forKey: .sizeMultiple) ?? 1
        case "resize":
            resizeTo = try c.decode([Int].self, forKey: .size)
        default:
            break
        }
    }

    private static func thumbnail(_ c: KeyedDecodingContainer<ThumbnailKeys>, _ at: String) throws -> ThumbnailEntry {
        let size = try c.decode([Int].self, forKey: .size)
        try ensure(size.count == 2, "\(at) thumbnails: 'size' must be [height, width], got \(size)")
        return ThumbnailEntry(input: try c.decode(String.self, forKey: .input), of: try c.decode(String.self, forKey: .of),
                              height: size[0], width: size[1],
                              resize: try c.decodeIfPresent(String.self, forKey: .resize) ?? "adaptive_average",
                              cells: try c.decodeIfPresent(Int.self, forKey: .cells))
    }

    private static func statistics(_ c: KeyedDecodingContainer<StatisticsKeys>, _ at: String) throws -> StatisticsEntry {
        let tile = try c.decode([Int].self, forKey: .tile)
        let step = try c.decode([Int].self, forKey: .step)
        try ensure(tile.count == 2 && step.count == 2, "\(at): 'tile' and 'step' must be [height, width]")
        var file: String?
        var sha256: String?
        var io: IoBlock?
        if c.contains(.artifact), try !c.decodeNil(forKey: .artifact) {
            let artifact = try c.nestedContainer(keyedBy: ArtifactKeys.self, forKey: .artifact)
            file = try artifact.decode(String.self, forKey: .file)
            sha256 = try artifact.decodeIfPresent(String.self, forKey: .sha256)
            io = try artifact.decodeIfPresent(IoBlock.self, forKey: .io)
        }
        return StatisticsEntry(
            inputs: try c.decode([String].self, forKey: .inputs), into: try c.decode([String: String].self, forKey: .into),
            output: try c.decodeIfPresent(String.self, forKey: .output) ?? "features",
            tileH: tile[0], tileW: tile[1], stride: try c.decode(Int.self, forKey: .stride),
            before: try c.decode(Int.self, forKey: .before), after: try c.decode(Int.self, forKey: .after),
            stepH: step[0], stepW: step[1], artifactFile: file, artifactSha256: sha256,
            artifactInputs: io?.inputs, artifactOutputs: io?.outputs)
    }
}
