// Our own small English word list (spell_backward) and a short original story (word_sorting,
// letter_counting). Written for this project; reasoning-gym uses a large dictionary and a novel instead.

/** Common English words of 3 to 10 letters, lower case. */
export const WORDS: readonly string[] = `
able about above accept across action active actor add address admit adult advice afraid after again
age agree ahead air airport alarm album alive allow almost alone along already also always amazing
amount angle angry animal answer any apple april area argue arm army around arrive art article ask
attack aunt autumn average avoid awake away baby back bad bag bake balance ball banana band bank base
basket bath battle beach bean bear beautiful become bed beer before begin behind believe bell belt bench
best better between bicycle big bird birthday bit bitter black blanket blind block blood blue board boat
body boil bone book border borrow bottle bottom bowl box boy brain branch brave bread break breakfast
breath brick bridge bright bring broken brother brown brush bucket build burn bus busy butter button buy
cabin cake call calm camera camp candle capital car card careful carpet carry castle cat catch cause
ceiling center chair chalk chance change cheap check cheese cherry chicken child chimney choice circle
city class clean clear clever climb clock close cloud coast coat coffee coin cold collect color comb come
common company compare complete computer cook cool copper corner correct cotton cough count country
courage cousin cover crack cream crowd crown cry cup curtain cushion custom cut damage dance danger dark
daughter day deep delay desert desk detail diamond dinner direction dirty discover dish distance doctor
dog dollar door double doubt down dragon drawer dream dress drink drive drop drum dry duck during dust
eager early earth east easy edge egg eight elbow empty engine enjoy enough enter equal escape evening
event exact example excited exit expert eye face factory fair fall family famous farm fast father
feather feeling fence field finger finish fire fish flag flame flat flower fold follow food foot forest
forget fork forward fox free fresh friend frog front fruit full funny garden gate gentle giant gift girl
glass glove goat gold good grape grass gray great green ground group guess guitar habit hair hammer hand
happy harbor hard harvest hat head health heart heavy helmet help hidden high hill history hobby hole
holiday honey hope horse hospital hotel hour house hungry hunter ice idea island jacket jelly jewel
journey juice jump jungle kettle key kind king kitchen kite knee knife ladder lake lamp language large
laugh lazy leaf learn leather lemon letter level library light lion list little lizard long loud lucky
lunch machine magic mail map market meadow metal middle milk minute mirror money monkey month moon
morning mother mountain mouse mouth music nail narrow nature needle nest never night noise north number
ocean office old onion orange orchard oven owl paint paper parent party pencil pepper person picture
pillow planet plant pocket poem police pond potato powder puzzle queen question quiet rabbit rain
rainbow river road rocket roof room rope round ruler salt sand school science season secret seed shadow
shell ship shoe shoulder silver simple sister sleep slow small smile snow soap soft soldier song soup
south spoon spring square stairs star station stone storm story street strong sugar summer sun supper
sweet table tail teacher tent thunder ticket tiger tomato tongue tooth towel tower town train travel
tree truck turtle umbrella uncle valley vegetable village violin voice wagon wall water weather window
winter wolf wood world yellow young zebra
`
  .split(/\s+/)
  .filter((w) => w.length > 0);

/** An original short story, a few hundred words, with some capitals and numbers in it. */
export const STORY_TEXT = `
The lighthouse at Gray Point was built in 1887, and for 40 years the same family kept its lamp burning.
Every evening Martha climbed the 112 steps to the lantern room, wiped the glass, and trimmed the wick
while her brother Thomas checked the weather from the gallery. They wrote everything in a thick blue
logbook: the wind, the ships that passed, the birds that rested on the rail, and the names of visitors
who came up the long road from the village.

In the winter of 1903 a storm came in from the north. The waves rose higher than anyone could remember,
and the fog was so thick that Thomas could not see the rocks below. At midnight they heard a bell
ringing somewhere out on the water. Martha wound the clockwork twice as fast as usual so the beam would
turn quickly, and Thomas fired the signal cannon 3 times every hour until dawn.

When the morning came, a small fishing boat called the Silver Heron was resting safely in the harbor.
Its captain, an old man named Elias Brook, walked up to the lighthouse with a basket of bread and 6
smoked fish. He said that he had steered toward the light all night long and that without it his crew
of 4 would have been lost. Martha wrote his words in the logbook and underlined them twice.

Years later the lamp was replaced by an electric beacon, and the family moved to a farm beside the
river. The logbook stayed on a shelf in the kitchen. Children from the village still ask to read it, and
they always turn first to the page about the storm, where the ink is smudged and the letters lean to
the left as if the wind were still blowing through them.

NOTICE TO READERS: THIS STORY IS FICTION. Any resemblance to real keepers, boats or storms is a
happy accident. Chapter 2 will follow in the spring edition, together with a map of the coast and a
list of all 17 lighthouses between Gray Point and the southern cape.
`;
