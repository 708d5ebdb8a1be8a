"""What simulated fans write: the phrase banks and the rules that pick from them.

Templates: {P} the player's name in caps, {p} as fans write it, {q} the other player (blocked,
stolen from, a teammate), {t}/{T} the team's nickname (as is / caps), {o} the other team's
nickname. Most of a real thread is about the game in general (its tension, the writer's nerves,
the referees, the broadcast); a comment names one of a play's players in about one of twenty, and
the words that tie a comment to a play ("block", "three", "and one") are rare outside its seconds.
"""

from __future__ import annotations

from fan_timeline import sport
from fan_timeline.facts import Fact

# {P} the player's name in caps, {p} as fans write it, {q} the other player (blocked, stolen from, a
# teammate), {t}/{T} the team's nickname (as is / caps), {o} the other team's nickname.
SHORT_PRO = ("{P}", "{P}!!!", "{P} {P} {P}", "LETS GOOOO", "YESSSS", "HE IS HIM", "{P} IS HIM", "BANG", "WOW",
             "OH MY GOD", "COOKING", "lets go {p}", "{p}!!", "yes sir", "ELITE", "MVP MVP MVP", "{T}!!!")
SHORT_ANTI = ("NOOOO", "ugh", "pain", "of course", "unreal", "wtf", "cmon", "are you kidding me", "fuck",
              "bruh", "lmao we suck", "I hate this team", "jesus christ", "no way", "brutal")
SHORT_HYPE = ("WOW", "holy shit", "OH MY GOD", "what a play", "wow {p}", "{P}!!", "this game rules",
              "WHAT A GAME", "lmaooo", "insane", "filthy", "oh my", "🍿", "league pass alert")
SHORT_CALM = ("nice", "ok", "good play", "lol", "{p} is good", "solid", "fair", "interesting", "meh", "sure")

PRO = {
    "three": ("{P} FROM DOWNTOWN", "splash. {p} again", "{p} is on fire tonight", "{p} can't miss rn",
              "cash money {p}", "{p} from the logo lmao", "THAT'S A {P} THREE", "bang bang {p}"),
    "dunk": ("{P} WITH THE HAMMER", "{p} just put him on a poster", "posterized lmaooo", "{P} THREW IT DOWN",
             "{p} is a grown man", "get that weak shit out of here... wait that was us dunking lol"),
    "two": ("big bucket {p}", "{p} getting to the rim at will", "{p} is so smooth", "nice move {p}",
            "{p} too quick for them"),
    "free_throw": ("knock em down {p}", "{p} money from the line", "ice cold at the line"),
    "block": ("{P} WITH THE SWAT", "get that weak stuff outta here {p}", "{p} said not in my house",
              "REJECTED", "{p} sent it to the cheap seats", "{q} really tried that on {p} lol"),
    "steal": ("{p} pickpocket lmao", "{P} WITH THE STEAL", "great hands {p}", "{p} reading that pass all day",
              "{p} with the theft"),
    "turnover": ("TURNOVER LETS GO", "defense wins games", "they're panicking", "great pressure"),
    "miss": ("DEFENSE", "great contest", "no chance", "they're choking", "LETS GOOO GET THE BOARD"),
    "lead": ("{P} FOR THE LEAD", "ICE IN HIS VEINS", "{p} wanted that shot", "WE'RE UP", "{P} CLUTCH",
             "biggest shot of the season from {p}", "THAT'S WHY WE PAY {P}", "{p} is built for this"),
    "tie": ("TIE GAME", "{p} ties it!!", "we're not dead yet", "{p} with the answer", "never doubted {p}"),
    "run": ("{t} are rolling", "this is the {t} I know", "{p} leading the charge", "can't stop us rn",
            "{o} need a timeout lol", "momentum baby"),
    "final": ("WE WIN", "W", "what a win", "GOOD GUYS WIN", "{p} carried us tonight", "LETS GOOOO {T}",
              "huge W", "{t} win!! {p} was unreal"),
    "overtime": ("OVERTIME BABY", "free basketball", "we're alive!!!", "{p} sent it to OT", "OT LETS GO"),
    "period_end": ("good quarter", "keep it up", "love this energy", "{p} has been great"),
}
ANTI = {
    "three": ("how do you leave {p} open", "of course {p} hits that", "closeout was lazy", "cool cool cool",
              "WHY IS NOBODY GUARDING {P}", "{p} shooting 90% against us every game"),
    "dunk": ("nobody boxed out??", "our defense is a fucking joke", "we really let {p} walk in for that",
             "{p} traveled first but ok", "who was guarding {p}?? nobody??"),
    "two": ("can't guard anyone", "zero resistance", "our rim protection is nonexistent", "{p} again??"),
    "free_throw": ("refs gifting them free throws", "soft foul", "that was a flop", "{p} gets every call"),
    "block": ("that was a foul on {p}", "refs swallowing the whistle again", "{q} stop driving into {p}",
              "goaltending? anyone?", "{q} is allergic to passing"),
    "steal": ("{q} with another turnover smh", "bench {q}", "terrible pass lol", "{q} has been careless all night",
              "wow another turnover, shocking"),
    "turnover": ("WHAT ARE WE DOING", "{q} you can't do that", "throwing it away again", "fire the coach"),
    "miss": ("NOOO", "why did {q} take that shot", "terrible shot", "we needed that", "run a play coach"),
    "lead": ("I hate this team", "we always blow leads", "this is so on brand", "refs giving them every call",
             "why is {p} always open in the 4th", "can't guard {p} to save our lives", "WHY THE FUCK DID WE FOUL"),
    "tie": ("we were up big how", "choking again", "here we go again", "how do you let {p} tie it",
            "this collapse is so on brand"),
    "run": ("call a timeout coach", "this is embarrassing", "fire the coach", "we haven't scored in forever",
            "{p} is killing us", "turn this off tbh"),
    "final": ("pain", "this one hurts", "refs decided this one", "another L", "{p} killed us tonight",
              "blow it up", "season's over", "I'm done with this team"),
    "overtime": ("we had this won", "blew it, now OT", "I can't watch OT with this team", "how did we let {p} do that"),
    "period_end": ("ugly quarter", "need better than this", "coach needs to adjust", "bench was awful"),
}
HYPE = ("what a game", "this game is wild", "{p} is so fun to watch", "wow {p}", "this game rules",
        "neutral here, this is great", "{p} is different", "league pass game of the night", "that was filthy")
CALM = ("{p} is solid", "ok that was nice", "decent play", "{p} has been efficient tonight", "carry on")
RANTS_ANTI = (
    "I genuinely don't understand what we're doing on defense. Every single possession {p} gets whatever he wants "
    "and nobody rotates. This has been the problem all season and the coach refuses to adjust.",
    "Refs have been terrible all night. {q} gets hacked every drive and nothing, then they call that? Unreal. "
    "I'm not saying it's rigged but it's really hard to watch.",
    "We keep doing this. Up big, get comfortable, stop moving the ball, and suddenly it's a game. Same story "
    "every week. Front office needs to make a move.",
)
RANTS_PRO = (
    "People were saying {p} was washed at the start of the season. Look at him now. This is the best he has "
    "played in years and it is so much fun to watch.",
    "This is what happens when we actually move the ball. Everyone touches it, good shots, {p} gets going. "
    "More of this please.",
)
CHATTER = {
    "pre": ("excited for this one", "{t} by 10", "who's starting tonight?", "is {p} playing?",
            "prediction: {t} win 114-106", "first game thread of the week lets go", "{p} gonna drop 30 tonight",
            "need this W", "trap game incoming"),
    "pro": ("{p} looking good tonight", "let's keep this going", "need more from the bench", "defense looks good",
            "{p} has been great", "love the ball movement", "{t} basketball", "this lineup works",
            "{p} is so underrated"),
    "anti": ("our bench is trash", "why is {p} still playing", "refs are blind tonight", "coach needs to be fired",
             "we can't rebound", "another night another brick", "love paying for league pass to watch this",
             "refs having a great game /s", "{p} has been invisible", "no effort on defense smh",
             "wow great spacing guys", "this team has no heart"),
    "off": ("anyone got a stream that works?", "my fantasy team is dying", "the announcers are so bad tonight",
            "ads every 2 min smh", "the crowd is so quiet", "whats the over/under tonight",
            "who else is watching at work lol", "my parlay is cooked", "this broadcast crew needs to go",
            "pizza just got here perfect timing", "is it just me or is the stream laggy"),
    "half": ("halftime thoughts?", "need a better 3rd quarter", "good half", "{p} needs more shots",
             "halftime adjustments pls coach", "that half was ugly"),
    "post": ("good game both teams", "{p} deserved that", "see you next game", "what a night",
             "{p} postgame presser gonna be good", "i need a drink after that"),
    "close": ("this is too close", "my heart can't take this", "nervous af", "one possession game",
              "every possession matters now", "I can't watch", "I need a stop here PLEASE"),
}
REPLIES = {
    "agree": ("this", "facts", "100%", "exactly what I was thinking", "real", "yep", "so true lol"),
    "disagree": ("cope", "lmao no", "bro what", "touch grass", "stay mad", "delusional take", "not even close",
                 "ratio"),
    "neutral": ("lol", "lmao", "fair", "we'll see", "idk man", "sure"),
}
AUTOMOD = ("Welcome to the game thread! Please keep the discussion civil. Streams are not allowed and will be "
           "removed.\n\n*I am a bot, and this action was performed automatically.*")
PROFANITY = ("fucking", "fuckin", "holy shit", "wtf", "goddamn", "damn", "shit")
EMOJI = ("🔥", "😭", "💀", "😤", "🤡", "👀", "🙏", "😂", "🐐")
ADJECTIVES = ("salty", "hoop", "baseline", "midrange", "corner", "lazy", "clutch", "bench", "frozen", "tired",
        "loud", "quiet", "rusty", "brick", "swish", "paint", "glass", "dunkin", "stepback", "fastbreak",
        "ancient", "sleepy", "cosmic", "based", "retired")
NOUNS = ("heron", "yeti", "otter", "loon", "comet", "monarch", "goat", "panda", "ref", "lurker", "coach", "fan",
         "dad", "enjoyer", "merchant", "prophet", "truther", "guy", "analyst", "scout", "waffle", "noodle",
         "pigeon", "walrus")


BAD_FOR_ACTOR = frozenset({"turnover", "miss", "miss_three", "miss_free_throw"})


def bank_key(fact: Fact) -> str:
    """Which reaction bank a play's fans draw from: the situation first, then what happened."""
    if fact.kind in ("final", "overtime"):
        return fact.kind
    if fact.lead_change and (fact.late or fact.margin <= sport.CLOSE_MARGIN):
        return "lead"
    if fact.ties:
        return "tie"
    if fact.run >= 10:
        return "run"
    return {"miss_three": "miss", "miss_free_throw": "miss"}.get(fact.kind, fact.kind)



# --- what most of a thread is: the game in general ---------------------------------------------------
GENERAL = (
    "this game is giving me anxiety and it's not even the 4th yet",
    "I swear every time I look away something happens",
    "the pace of this game is so weird, feels like nobody wants to run",
    "we need to start getting stops or this is going to get ugly fast",
    "whoever wins the rebounding battle wins this one imo",
    "I have work in the morning and I'm still going to watch every second of this",
    "honestly both teams look tired tonight",
    "the spacing on offense has been so much better this half",
    "can we please just get one clean possession",
    "this is the most fun I've had watching this team all year",
    "refs have let them play tonight which I actually like",
    "these refs are calling everything, nobody can get into a rhythm",
    "the crowd is getting into it now, you can hear it on the stream",
    "bench unit needs to hold the line for a few minutes",
    "every possession feels like a playoff possession",
    "turnovers are going to decide this one",
    "I'm not breathing until this is over",
    "genuinely can't tell who's going to win this",
    "defense has been so much better since the timeout",
    "why does it feel like we're down 20 when it's close",
    "this announcer keeps getting names wrong lol",
    "the stream just froze for me at the worst possible time",
    "good energy from everyone tonight, love to see it",
    "we always play down to the competition",
    "our transition defense is nonexistent tonight",
    "that's a lot of free throws for one quarter",
    "both coaches are out-thinking themselves tonight",
    "I need this W more than I need sleep",
    "if we lose this one I'm blaming the second unit",
    "hold on to your butts",
    "the vibes are immaculate right now",
    "this is why I pay for league pass",
    "my dog is staring at me because I keep yelling at the tv",
    "not a lot of ball movement the last few trips",
    "stop settling for jumpers",
    "they're hunting mismatches every possession and it's working",
    "somebody box out please",
    "third foul on a bad call, great",
    "need to slow the game down here",
    "shot clock violation incoming lol",
    "our shot blocking has been great tonight",
)
PLAYER_TALK = (
    "{p} has been quietly great tonight",
    "{p} needs the ball more, every time he touches it good things happen",
    "why is {p} still on the floor, he's been cooked all night",
    "{p} is playing with so much energy",
    "{p} looks gassed",
    "give {p} the ball and get out of the way",
    "{p} has had a rough shooting night",
    "I love {p} but he has to stop forcing it",
    "{p} defense has been elite",
    "{p} getting to his spots whenever he wants",
    "{p} is so underrated, people have no idea",
    "can someone guard {p} please",
    "is {p} hurt? he's moving slow",
    "{p} is in foul trouble, be careful",
    "{p} should be closing this game",
    "{p} mvp chants incoming",
    "{p} with 4 rebounds in like 3 minutes",
    "coach has to get {p} going early in this half",
)
STOPPAGE = (
    "commercial break #47",
    "that was a terrible call",
    "how is that a foul",
    "refs want to be on tv so bad",
    "timeout, good, we need to regroup",
    "please draw something up coach",
    "ads again smh",
    "free throw parade",
    "review this is taking forever",
    "that's a flop and everyone knows it",
    "clear foul, no complaints",
    "let them play refs",
    "the replay center is taking its sweet time",
    "perfect time for a timeout",
    "this dead ball time is killing me",
    "bathroom break",
    "who was that foul even on",
    "another whistle, shocker",
)
# The words that tie a reaction to its play, by the kind of play (fans say "block" after a block).
PLAY_WORDS = {
    "three": ("THREE", "from three", "that three", "corner three", "threeeee"),
    "dunk": ("DUNK", "what a dunk", "that dunk", "POSTER", "slam"),
    "block": ("BLOCK", "what a block", "BLOCKED", "that block", "swat"),
    "steal": ("steal", "STEAL", "pick six"),
    "two": ("bucket", "and one", "AND ONE", "layup"),
    "free_throw": ("free throws", "clutch free throws", "ft", "from the line"),
    "miss": ("MISSED", "brick", "off the rim", "miss"),
    "miss_three": ("MISSED", "brick", "airball", "miss"),
    "miss_free_throw": ("missed free throw", "bricked the ft", "miss"),
    "turnover": ("turnover", "TURNOVER", "terrible pass"),
}
# Reactions to a play fans argue about (a block that looked like a foul, a call at the rim).
ARGUED = ("that was a foul!!", "{p} got all ball", "how is that not a foul on {p}", "goaltending??",
          "refs are blind, {q} got hacked", "clean play by {p}, stop crying", "REVIEW IT", "that's a terrible call",
          "no way that stands", "{q} got mugged and nothing??")
# Replies that argue a point rather than nod along.
REPLIES_LONG = (
    "nah he's been fine, it's the defense around him that's the problem",
    "you say this every game and every game you're wrong",
    "agreed, the rotations have been a mess since the start of the second quarter",
    "it's one bad stretch, relax, there's a lot of game left",
    "that's literally what I said two minutes ago",
    "the refs have been bad both ways tbf",
    "no shot, he's been the best player on the floor tonight",
    "we'll see how you feel about that in the 4th",
    "this is such a weird take, did you watch the first half",
    "honestly yeah, coach has to make an adjustment here",
)
# Long takes: the paragraph some fans write mid-game.
TAKES = (
    "I know it's a long season but the way we've been closing quarters is a real problem. Every time we get a "
    "lead the ball stops moving and we settle for contested jumpers.",
    "Not to be dramatic but this is the best I've seen us defend all year. Rotations are crisp, nobody is "
    "giving up on plays, and the bench is actually holding leads for once.",
    "Whoever is doing the substitution patterns tonight needs to explain themselves. Why are two of our best "
    "players sitting at the same time in a close game?",
    "Watching on a 40 second delay is the worst. My phone buzzes with the score and then I have to watch it "
    "happen. Anyone have a better stream?",
    "Say what you want about the refs but we have shot terribly from three all night. That's on us, not them.",
    "Honestly this is why I love this sport. Two teams just throwing haymakers at each other, nobody backing "
    "down. Whoever wins this one earned it.",
)
# What fans say about an ordinary possession: a basket, a miss, a rebound, a foul.
POSSESSION = ("nice", "cmon man", "defense!", "lol what was that", "ugh another empty trip", "good look",
              "box out!!", "get back on defense", "finally a stop", "great pass", "bad shot, early in the clock",
              "move the ball please", "too easy for them", "so sloppy right now", "ok ok we're fine", "let's go",
              "wow", "terrible possession", "smart play there", "can we get a rebound", "that's a good shot to take",
              "they're living at the line", "no help defense at all", "love the hustle",
              "why are we settling for threes", "nobody on this team can block a shot", "block out!!",
              "shooting a lot of threes tonight", "that almost got blocked lol", "need a stop and a three here",
              "we can't block anything tonight")
POSSESSION_NAMED = ("nice {p}", "cmon {p}, you have to finish that", "{p} again", "{p} lol", "good look {p}",
                    "{p} is cooking right now", "bad shot {p}", "why is {p} shooting that", "{p}!!",
                    "that's {p} for you", "{p} has to be more careful with the ball")
