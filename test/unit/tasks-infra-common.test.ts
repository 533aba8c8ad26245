// Python-compatibility helpers and reasoning-gym's base score. Expected values were printed by
// CPython 3.11.7 (the interpreter that made the golden fixtures).
import { describe, expect, it } from 'vitest';
import {
  baseScore,
  computeDecimalReward,
  decimalExactScore,
  guardScore,
  PyError,
  parsePyDecimal,
  pyCount,
  pyDecimalEquals,
  pyFloat,
  pyFloatRepr,
  pyFloorDiv,
  pyInt,
  pyLen,
  pySplit,
  pyStrip,
  pyStrRepr,
  randIntWide,
} from '../../src/tasks/common.ts';
import { Rng } from '../../src/tasks/prng.ts';

describe('baseScore (ProceduralDataset.score_answer)', () => {
  it('gives 1 for the exact oracle, 0 for empty/null/absent', () => {
    expect(baseScore('42', '42')).toBe(1);
    expect(baseScore('', '42')).toBe(0);
    expect(baseScore(null, '42')).toBe(0);
    expect(baseScore('43', '42')).toBe(0);
  });
  it('gives len(oracle)/len(answer) when the oracle is a substring, case-sensitive', () => {
    expect(baseScore('\n  -1462  \n', '-1462')).toBe(5 / 11);
    expect(baseScore('The answer is 3', '3')).toBe(1 / 15);
    expect(baseScore('yes', 'Yes')).toBe(0);
  });
  it('counts code points like Python, not UTF-16 units', () => {
    // '😀' is 1 code point but 2 UTF-16 units: Python gives 2/3, a .length ratio would give 2/4.
    expect(baseScore('😀ab', 'ab')).toBe(2 / 3);
    expect(pyLen('😀ab')).toBe(3);
    expect(pyLen('\ud800x')).toBe(2); // a lone surrogate is one code point
  });
});

describe('Python string helpers', () => {
  it('strip uses str.isspace()', () => {
    expect(pyStrip('\x1c\xa0 x y\u3000\u2028')).toBe('x y');
    expect(pyStrip('\u200bx')).toBe('\u200bx'); // zero-width space is not whitespace in Python
    expect(pyStrip('\ufeffx')).toBe('\ufeffx'); // nor is the BOM (JS trim() would remove it)
  });
  it('split() and count() match Python', () => {
    expect(pySplit('  a\tb\n\nc  ')).toEqual(['a', 'b', 'c']);
    expect(pySplit('   ')).toEqual([]);
    expect(pyCount('\n</think>\n</think>\n', '\n</think>\n')).toBe(1); // non-overlapping
    expect(pyCount('aaaa', 'aa')).toBe(2);
  });
  it('repr of str follows CPython', () => {
    expect(pyStrRepr("a'b")).toBe(`"a'b"`);
    expect(pyStrRepr('a"b')).toBe(`'a"b'`);
    expect(pyStrRepr('a\'"b')).toBe(`'a\\'"b'`);
    expect(pyStrRepr('\n\t\x00\x7f\u200b\xa0é😀\u{e0001}')).toBe(
      "'\\n\\t\\x00\\x7f\\u200b\\xa0é😀\\U000e0001'",
    );
  });
});

describe('Decimal(str) like CPython', () => {
  const valid: [string, string][] = [
    ['1_000', '1000'],
    ['_1', '1'],
    ['1__0', '10'],
    ['  12  ', '12'],
    ['\xa012\u3000', '12'],
    ['\x1c5', '5'],
    ['١٢', '12'],
    ['𝟓', '5'],
    ['+01', '1'],
    ['1e3', '1000'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['1_.5', '1.5'],
    ['1e-_3', '0.001'],
    ['00.00e-00', '0'],
    ['-23.0', '-23'],
    ['1e999999999999999999', '1e999999999999999999'],
  ];
  it.each(valid)('Decimal(%j) == Decimal(%j)', (a, b) => {
    expect(pyDecimalEquals(a, b)).toBe(true);
  });
  const invalid = [
    '.',
    '1 000',
    '0x10',
    '1.0e',
    'e5',
    '\u200b5',
    '12\ufeff',
    '－5',
    '1.2.3',
    '_ 1',
    '_',
    '-',
    '1e+',
  ];
  it.each(invalid)('Decimal(%j) raises InvalidOperation', (s) => {
    expect(parsePyDecimal(s)).toBeNull();
  });
  it('applies libmpdec exponent limits', () => {
    expect(parsePyDecimal('1e1000000000000000000')).toBeNull();
    expect(parsePyDecimal('0e1000000000000000000')).toBeNull();
    expect(parsePyDecimal('0.1e1000000000000000000')).not.toBeNull();
    expect(parsePyDecimal('1e-1999999999999999997')).not.toBeNull();
    expect(parsePyDecimal('1e-1999999999999999998')).toBeNull();
  });
  it('handles specials: -0 == 0, inf == Infinity, NaN never equal', () => {
    expect(pyDecimalEquals('-0', '0')).toBe(true);
    expect(pyDecimalEquals('Infinity', 'inf')).toBe(true);
    expect(pyDecimalEquals('-inf', 'inf')).toBe(false);
    expect(pyDecimalEquals('NaN', 'NaN')).toBe(false);
    expect(parsePyDecimal('-snan')).toEqual({ kind: 'nan', negative: true, signaling: true });
    expect(parsePyDecimal('In_f')).toEqual({ kind: 'infinity', negative: false });
    expect(parsePyDecimal('NaN1.5')).toBeNull();
  });
});

describe('compute_decimal_reward', () => {
  it('accepts the same number in any Decimal spelling, with commas removed', () => {
    expect(computeDecimalReward('-23.0', '-23')).toBe(1);
    expect(computeDecimalReward('\n  -23  \n', '-23')).toBe(1);
    expect(computeDecimalReward('+01,000.00', '1000')).toBe(1);
  });
  it('falls back to the substring ratio on the comma-free strings', () => {
    expect(computeDecimalReward('The answer is -23', '-23')).toBe(3 / 17);
    expect(computeDecimalReward('is 1,000', '1000')).toBe(4 / 7);
    expect(computeDecimalReward('-22', '-23')).toBe(0);
    expect(computeDecimalReward('', '-23')).toBe(0);
    expect(computeDecimalReward(null, '-23')).toBe(0);
  });
  it('has a strict twin without substring credit', () => {
    expect(decimalExactScore('-23.0', '-23')).toBe(1);
    expect(decimalExactScore('The answer is -23', '-23')).toBe(0);
    expect(decimalExactScore(null, '-23')).toBe(0);
  });
});

describe('int() and float() like CPython', () => {
  it('int() accepts signs, padding, single underscores, Unicode digits', () => {
    expect(pyInt('007')).toBe(7n);
    expect(pyInt(' -1_0 ')).toBe(-10n);
    expect(pyInt('\xa012\u3000')).toBe(12n);
    expect(pyInt('٣')).toBe(3n);
  });
  it('int() raises ValueError with the repr in the message', () => {
    expect(() => pyInt('The answer is 2')).toThrow(
      "ValueError: invalid literal for int() with base 10: 'The answer is 2'",
    );
    for (const bad of ['1.0', '1__0', '_1', '', ' ', '\x1c12']) expect(() => pyInt(bad)).toThrow(PyError);
  });
  it('float() follows the float grammar', () => {
    expect(pyFloat(' 1_0.5e1_0 ')).toBe(105000000000);
    expect(pyFloat('-iNF')).toBe(-Infinity);
    expect(pyFloat('.5e-3')).toBe(0.0005);
    expect(pyFloat('1e400')).toBe(Infinity);
    expect(Number.isNaN(pyFloat('nan'))).toBe(true);
    for (const bad of ['_1', '1__0', '1_', '1_.5', '1e', '.', '0x10', '\x1c12']) {
      expect(() => pyFloat(bad)).toThrow("could not convert string to float: '");
    }
  });
});

describe('float repr like CPython', () => {
  const cases: [number, string][] = [
    [1.0, '1.0'],
    [0.45454545454545453, '0.45454545454545453'],
    [1 / 3, '0.3333333333333333'],
    [1e16, '1e+16'],
    [1.5e16, '1.5e+16'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [123456789012345680.0, '1.2345678901234568e+17'],
    [-0.0, '-0.0'],
    [2.5e-7, '2.5e-07'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [0.1 + 0.2, '0.30000000000000004'],
    [100.0, '100.0'],
    [1234567890123456.0, '1234567890123456.0'],
    [9999999999999998.0, '9999999999999998.0'],
    [-12.5, '-12.5'],
    [Infinity, 'inf'],
  ];
  it.each(cases)('repr(%d) = %s', (x, want) => {
    expect(pyFloatRepr(x)).toBe(want);
  });
});

describe('integer helpers', () => {
  it('floor division rounds toward -infinity like Python //', () => {
    expect(pyFloorDiv(-7n, 2n)).toBe(-4n);
    expect(pyFloorDiv(7n, -2n)).toBe(-4n);
    expect(pyFloorDiv(-8n, 2n)).toBe(-4n);
    expect(pyFloorDiv(7n, 2n)).toBe(3n);
    expect(() => pyFloorDiv(1n, 0n)).toThrow('ZeroDivisionError');
  });
  it('randIntWide stays in range on spans wider than 2^32', () => {
    const rng = new Rng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const v = randIntWide(rng, 10 ** 14, 10 ** 15 - 1);
      expect(v).toBeGreaterThanOrEqual(10 ** 14);
      expect(v).toBeLessThanOrEqual(10 ** 15 - 1);
      expect(Number.isInteger(v)).toBe(true);
      seen.add(v % 1000); // low digits vary too (one 32-bit draw would leave gaps)
    }
    expect(seen.size).toBeGreaterThan(150);
  });
  it('guardScore turns a PyError into an error result and rethrows other errors', () => {
    expect(guardScore(() => Number(pyInt('x')))).toEqual({
      score: 0,
      error: "ValueError: invalid literal for int() with base 10: 'x'",
    });
    expect(guardScore(() => 0.5)).toEqual({ score: 0.5 });
    expect(() =>
      guardScore(() => {
        throw new TypeError('bug');
      }),
    ).toThrow(TypeError);
  });
});
