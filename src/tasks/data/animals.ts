// Our own list of animals and how many legs each has (plural is formed by adding "s", as reasoning-gym does).
export const ANIMAL_LEGS: Readonly<Record<string, number>> = {
  // no legs
  snake: 0,
  worm: 0,
  jellyfish: 0,
  snail: 0,
  eel: 0,
  // two legs
  chicken: 2,
  duck: 2,
  human: 2,
  penguin: 2,
  ostrich: 2,
  parrot: 2,
  owl: 2,
  // four legs
  dog: 4,
  cat: 4,
  cow: 4,
  horse: 4,
  goat: 4,
  pig: 4,
  rabbit: 4,
  lion: 4,
  tiger: 4,
  zebra: 4,
  giraffe: 4,
  elephant: 4,
  frog: 4,
  turtle: 4,
  lizard: 4,
  // five arms, counted as legs in these puzzles
  starfish: 5,
  // six legs
  ant: 6,
  bee: 6,
  beetle: 6,
  butterfly: 6,
  cricket: 6,
  grasshopper: 6,
  ladybug: 6,
  mosquito: 6,
  // eight legs
  spider: 8,
  scorpion: 8,
  tick: 8,
  // ten legs
  crab: 10,
  lobster: 10,
  shrimp: 10,
  // fourteen legs
  woodlouse: 14,
};

export const ANIMAL_NAMES: readonly string[] = Object.keys(ANIMAL_LEGS);
